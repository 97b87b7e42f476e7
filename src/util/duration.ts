const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** '30s', '15m', '2h', '7d', '500ms' → milliseconds. The targets file's duration format. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration such as 30s, 15m, 2h, 7d.`);
  return Number(m[1]) * UNITS[m[2]!]!;
}
