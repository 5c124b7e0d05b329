import { createHmac } from "node:crypto";

/**
 * A sandbox's traffic access token (E2B's `trafficAccessToken`, sent back as the
 * e2b-traffic-access-token header to reach its ports when public traffic is off). Derived from
 * its envd token rather than stored: it lives and dies with that token, and knowing it does
 * not reveal the envd token (it only opens the sandbox's user ports, never envd).
 */
export function trafficTokenOf(envdAccessToken: string): string {
  return createHmac("sha256", envdAccessToken)
    .update("e2b-traffic-access-token")
    .digest("base64url");
}
