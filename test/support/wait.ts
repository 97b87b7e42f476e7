/** Polls a condition until it holds; fails with `what` after the timeout. Not a sleep: it returns as soon as it holds. */
export async function until(
  check: () => Promise<boolean> | boolean,
  what = 'condition',
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
