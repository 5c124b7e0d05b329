// Connection marks of workspace WireGuard tunnels (apps/host-agent/src/workspaces/). The
// tunnels' own table marks every connection that comes in through a tunnel with
// TUNNEL_CT_MARK | port; the isolation rules (firewall.ts) let exactly those connections, once
// DNAT-ed to their workspace's address by that table, into a sandbox, and their replies out.
// Only nft rules set connection marks: nothing inside a sandbox can forge one.

/** The high half of every tunnel's mark ("WG"); the low half is the tunnel's UDP port. */
export const TUNNEL_CT_MARK = 0x57470000;
export const TUNNEL_CT_MASK = 0xffff0000;

/** A tunnel's connection mark, also its routing mark and its policy routing table's id. */
export const tunnelMark = (port: number): number => (TUNNEL_CT_MARK | port) >>> 0;

const hex = (n: number) => `0x${n.toString(16)}`;

/** nft match of "a connection that came in through some workspace tunnel". */
export const TUNNEL_CT_MATCH = `ct mark & ${hex(TUNNEL_CT_MASK)} == ${hex(TUNNEL_CT_MARK)}`;
