import type { RuntimeId } from "../runtime/driver.js";
import type { AllocationStore, SlotRecord } from "./allocation-store.js";
import { NetworkError } from "./errors.js";
import { cidrSize, formatCidr, type Ipv4Cidr, parseIpv4 } from "./ipv4.js";
import type { NetworkLogger } from "./logger.js";
import { namesFor } from "./naming.js";
import { routedElsewhere } from "./netlink.js";
import { PREFIX_LEN, SLOT_SIZE, type SlotLayout } from "./slot-layout.js";

/**
 * Claims the next free /30 for a sandbox that has none, skipping any still routed through
 * another interface (a leaked sandbox of a crashed agent): its traffic would go there.
 */
export async function claimFreeSlot(
  deps: {
    store: AllocationStore;
    layout: SlotLayout;
    pool: Ipv4Cidr;
    prefix: string;
    log: NetworkLogger;
  },
  runtimeId: RuntimeId,
): Promise<SlotRecord> {
  const { store, layout, log } = deps;
  const { hostIf } = namesFor(deps.prefix, runtimeId);
  const slotCount = cidrSize(deps.pool) / SLOT_SIZE;
  for (let tried = 0; tried < slotCount; tried++) {
    const record = await store.claim(runtimeId);
    const slot = formatCidr({
      base: parseIpv4(layout.addresses(record).hostIp) - 1,
      prefixLen: PREFIX_LEN,
    });
    const others = await routedElsewhere(slot, hostIf);
    if (others.length === 0) {
      log.debug({ runtimeId, slot: record.index }, "address allocated");
      return record;
    }
    // Next-fit: the claim after this release moves on to the following slot.
    log.warn(
      { runtimeId, slot, interfaces: others },
      "address still routed through another interface (a leaked sandbox?): skipped",
    );
    await store.release(runtimeId);
  }
  throw new NetworkError(
    "pool_exhausted",
    `address pool exhausted: every free /30 of ${formatCidr(deps.pool)} is routed through another interface`,
  );
}
