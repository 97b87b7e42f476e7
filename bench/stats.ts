export function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))] ?? NaN;
}
export const median = (xs: number[]) => percentile(xs, 50);
export const spread = (xs: number[]) => `[${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]`;
