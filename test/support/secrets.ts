import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The suite-wide secret scan: tests register the credentials they hand to the worker or the API
 * (passwords, webhook secrets, signing keys, tokens); when the run ends, global-setup reads every
 * history on the dev server, payloads decoded, and fails the run if any of them holds one.
 * No vitest imports: global-setup uses it too.
 */

const dir = () => process.env.RUNBOOKS_TEST_SECRETS;

export function registerSecrets(label: string, ...values: Array<string | undefined>): void {
  const d = dir();
  if (!d) return; // outside the test runner (scripts)
  mkdirSync(d, { recursive: true });
  for (const v of values) if (v && v.length >= 8) appendFileSync(path.join(d, `${process.pid}.tsv`), `${label}\t${v}\n`);
}

export function registeredSecrets(d: string): Array<{ label: string; value: string }> {
  if (!existsSync(d)) return [];
  return readdirSync(d).flatMap((f) => readFileSync(path.join(d, f), 'utf8').split('\n').filter(Boolean).map((line) => {
    const [label, value] = line.split('\t') as [string, string];
    return { label, value };
  }));
}

/** A history exported as JSON (historyToJSON) with every payload's data decoded from base64. */
export function decodePayloads(exported: unknown): unknown {
  if (Array.isArray(exported)) return exported.map(decodePayloads);
  if (exported && typeof exported === 'object') {
    const o = exported as Record<string, unknown>;
    if (typeof o.data === 'string' && o.metadata && typeof o.metadata === 'object') return { ...o, data: Buffer.from(o.data, 'base64').toString('utf8') };
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decodePayloads(x)]));
  }
  return exported;
}
