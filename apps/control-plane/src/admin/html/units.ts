// How numbers and times read on the admin pages: compact, fixed-width friendly, UTC.

export function mib(mb: number): string {
  if (mb >= 1024 * 1024) return `${trim(mb / 1024 / 1024)} TiB`;
  if (mb >= 1024) return `${trim(mb / 1024)} GiB`;
  return `${trim(mb)} MiB`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${trim(n / 1024)} KiB`;
  return mib(n / 1024 / 1024);
}

function trim(n: number): string {
  return n >= 100
    ? n.toFixed(0)
    : n >= 10
      ? n.toFixed(1).replace(/\.0$/, "")
      : n.toFixed(2).replace(/\.?0+$/, "");
}

/** 2026-11-12 10:22:01 (UTC). */
export function timestamp(d: Date): string {
  return d.toISOString().replace("T", " ").slice(0, 19);
}

/** 45s, 12m, 3h, 2d: how long ago or how far ahead. */
export function span(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 90) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}

export function percent(used: number, total: number): number {
  if (!(total > 0)) return 0;
  return Math.min(100, Math.max(0, (used / total) * 100));
}
