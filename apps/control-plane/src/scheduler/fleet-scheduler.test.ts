import { describe, expect, test } from "vitest";
import { snapshotPlacement } from "../service/snapshot-service.js";
import type { HostRecord } from "../store/host-store.js";
import { type Candidate, choose, leastLoadedOfK, load, roundRobin } from "./fleet-scheduler.js";

function candidate(id: string, vcpus: number, memoryMb: number): Candidate {
  const host = {
    id,
    capacityTotal: { vcpus: 8, memoryMb: 16_384, diskMb: 100_000 },
  } as HostRecord;
  return { host, committed: { vcpus, memoryMb } };
}

describe("placement policies", () => {
  test("round-robin takes each host in turn, by id, whatever the order given", () => {
    const policy = roundRobin();
    const hosts = [candidate("host-b", 0, 0), candidate("host-a", 8, 16_000)];
    const picks = [0, 1, 2, 3].map(() => policy([...hosts].reverse()).host.id);
    expect(picks).toEqual(["host-a", "host-b", "host-a", "host-b"]);
  });

  test("load is the busier of committed CPU and memory", () => {
    expect(load(candidate("h", 4, 0))).toBe(0.5);
    expect(load(candidate("h", 0, 12_288))).toBe(0.75);
  });

  test("least-loaded of K picks the emptiest host of its sample", () => {
    const hosts = [
      candidate("host-a", 6, 0),
      candidate("host-b", 1, 1024),
      candidate("host-c", 0, 15_000),
    ];
    // K covering every host: always the least loaded.
    const all = leastLoadedOfK(3);
    for (let i = 0; i < 10; i++) expect(all(hosts).host.id).toBe("host-b");
    // A sample of two that leaves host-b out: the better of those two.
    const draws = [0, 1]; // host-a, then (of b and c) host-c
    const sampled = leastLoadedOfK(2, () => draws.shift() ?? 0);
    expect(sampled(hosts).host.id).toBe("host-a");
  });

  test("a resume takes the host it left when that host is a candidate, whatever the policy", () => {
    const hosts = [candidate("host-a", 7, 15_000), candidate("host-b", 0, 0)];
    // The least-loaded policy alone would take host-b; the host that held it is busier.
    expect(leastLoadedOfK(2)(hosts).host.id).toBe("host-b");
    expect(choose(hosts, leastLoadedOfK(2), "host-a").host.id).toBe("host-a");
    // Round-robin is not advanced by a preferred pick: the next plain create starts at host-a.
    const rr = roundRobin();
    expect(choose(hosts, rr, "host-b").host.id).toBe("host-b");
    expect(choose(hosts, rr).host.id).toBe("host-a");
  });

  test("a preferred host that is no candidate (offline, drained, full) leaves the choice to the policy", () => {
    const hosts = [candidate("host-b", 1, 1024), candidate("host-c", 0, 0)];
    expect(choose(hosts, leastLoadedOfK(2), "host-a").host.id).toBe("host-c");
    expect(choose(hosts, leastLoadedOfK(2), undefined).host.id).toBe("host-c");
  });

  test("a create from a snapshot is pinned to its host until stored, then only prefers it", () => {
    // Only its host has it: the create goes there or fails (host_unavailable).
    expect(snapshotPlacement({ hostId: "host-a", stored: false })).toEqual({ hostId: "host-a" });
    // Any host can download it: its own when that is a candidate (choose), else the policy's.
    expect(snapshotPlacement({ hostId: "host-a", stored: true })).toEqual({
      preferHostId: "host-a",
    });
  });
});
