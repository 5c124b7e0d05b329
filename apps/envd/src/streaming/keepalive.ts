// E2B clients send `Keepalive-Ping-Interval: <seconds>`; envd then sends a keepalive event on
// a stream that had nothing else to say for that long. E2B's default is 90 s.
const DEFAULT_INTERVAL_MS = 90_000;

export function keepaliveIntervalMs(headers: Headers): number {
  const raw = headers.get("keepalive-ping-interval");
  if (raw === null || !/^\d{1,6}$/.test(raw.trim())) return DEFAULT_INTERVAL_MS;
  const seconds = Number(raw.trim());
  return seconds > 0 ? seconds * 1000 : DEFAULT_INTERVAL_MS;
}
