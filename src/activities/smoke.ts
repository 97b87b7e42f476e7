import type { TargetRegistry } from '../targets.js';
import { withPg } from './postgres.js';

/** The target's smoke checks after a repair: SQL checks (`expect` like ">= 1" or an exact value) and HTTP statuses. */

export interface SmokeResult {
  name: string;
  ok: boolean;
  got: string;
  expected: string;
}

/** Compares a value with an expectation: ">= 0", "> 2", "= 5", "!= 0", "<= 3", "< 1" or an exact string. */
export function meets(value: string, expect: string): boolean {
  const m = /^(>=|<=|!=|=|>|<)\s*(-?\d+(?:\.\d+)?)$/.exec(expect.trim());
  if (!m) return value === expect;
  const v = Number(value);
  const n = Number(m[2]);
  if (Number.isNaN(v)) return false;
  switch (m[1]) {
    case '>=':
      return v >= n;
    case '<=':
      return v <= n;
    case '>':
      return v > n;
    case '<':
      return v < n;
    case '!=':
      return v !== n;
    default:
      return v === n;
  }
}

export function createSmokeActivities(targets: TargetRegistry) {
  return {
    /** One HTTP request (the operation a runbook retries after a repair): its status. */
    async httpProbe(url: string): Promise<{ url: string; status: number | null; ok: boolean; error?: string }> {
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        return { url, status: r.status, ok: r.ok };
      } catch (err) {
        return { url, status: null, ok: false, error: (err as Error).message };
      }
    },

    async smokeChecks(target: string): Promise<SmokeResult[]> {
      const out: SmokeResult[] = [];
      for (const check of targets.spec(target).smoke ?? []) {
        if ('sql' in check) {
          const got = await withPg(targets, target, async (c) => {
            const r = await c.query({ text: check.sql, rowMode: 'array' });
            const v = (r.rows[0] as unknown[] | undefined)?.[0];
            return v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
          }).catch((err: unknown) => `error: ${(err as Error).message}`);
          out.push({
            name: check.name,
            ok: !got.startsWith('error:') && meets(got, check.expect),
            got,
            expected: check.expect,
          });
        } else {
          const got = await fetch(check.http, { signal: AbortSignal.timeout(10_000) }).then(
            (r) => String(r.status),
            (err: unknown) => `error: ${(err as Error).message}`,
          );
          out.push({ name: check.name, ok: got === String(check.expect), got, expected: String(check.expect) });
        }
      }
      return out;
    },
  };
}
