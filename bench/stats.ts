export function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))] ?? NaN;
}
export const median = (xs: number[]) => percentile(xs, 50);
export const spread = (xs: number[]) => `[${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]`;

/** How long `fn` takes, in milliseconds. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** A progress line on stderr (stdout carries the Markdown result). */
export const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
