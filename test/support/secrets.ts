import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { TemporalConnectionOptions } from '../../src/temporal/connection.js';

/**
 * The suite-wide secret scan: tests register the credentials they hand to the worker or the API
 * (passwords, webhook secrets, signing keys, tokens); when the run ends, global-setup reads every
 * history on the shared server, payloads decoded, the scans of the private dev servers some tests
 * start (each scanned as it stops: privateDevServer in temporal.ts), and every log the run wrote
 * (RUNBOOKS_TEST_LOGS: worker processes' logs, the in-process workers' SDK logs), and fails the
 * run if any of them holds one. No vitest imports: global-setup uses it too.
 */

const dir = () => process.env.RUNBOOKS_TEST_SECRETS;

export function registerSecrets(label: string, ...values: Array<string | undefined>): void {
  const d = dir();
  if (!d) return; // outside the test runner (scripts)
  mkdirSync(d, { recursive: true });
  for (const v of values)
    if (v && v.length >= 8) appendFileSync(path.join(d, `${process.pid}.tsv`), `${label}\t${v}\n`);
}

export function registeredSecrets(d: string): Array<{ label: string; value: string }> {
  if (!existsSync(d)) return [];
  return readdirSync(d).flatMap((f) =>
    readFileSync(path.join(d, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [label, value] = line.split('\t') as [string, string];
        return { label, value };
      }),
  );
}

/** A history exported as JSON (historyToJSON) with every payload's data decoded from base64. */
export function decodePayloads(exported: unknown): unknown {
  if (Array.isArray(exported)) return exported.map(decodePayloads);
  if (exported && typeof exported === 'object') {
    const o = exported as Record<string, unknown>;
    if (typeof o.data === 'string' && o.metadata && typeof o.metadata === 'object')
      return { ...o, data: Buffer.from(o.data, 'base64').toString('utf8') };
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decodePayloads(x)]));
  }
  return exported;
}

export interface ScanResult {
  histories: number;
  secrets: number;
  /** Log files read (the run's whole scan only). */
  logs?: number;
  hits: Array<{ where: string; label: string }>;
  error?: string;
}

/** Every history on `server`, payloads decoded, searched for every registered secret. */
export async function scanHistories(server: TemporalConnectionOptions, secretsDir: string): Promise<ScanResult> {
  const secrets = registeredSecrets(secretsDir);
  const connection = await Connection.connect(server);
  try {
    const client = new Client({ connection });
    const ids: Array<{ workflowId: string; runId: string }> = [];
    for await (const w of client.workflow.list()) ids.push({ workflowId: w.workflowId, runId: w.runId });
    const hits: ScanResult['hits'] = [];
    for (let i = 0; i < ids.length; i += 16) {
      await Promise.all(
        ids.slice(i, i + 16).map(async ({ workflowId, runId }) => {
          const text = JSON.stringify(
            decodePayloads(
              JSON.parse(historyToJSON(await client.workflow.getHandle(workflowId, runId).fetchHistory())),
            ),
          );
          for (const s of secrets)
            if (text.includes(s.value))
              hits.push({ where: `history of ${workflowId} on ${server.address}`, label: s.label });
        }),
      );
    }
    return { histories: ids.length, secrets: secrets.length, hits };
  } finally {
    await connection.close();
  }
}

/** Where this run's logs go (a worker process's log, the in-process SDK log); undefined outside the test runner. */
export function testLogDir(): string | undefined {
  const d = process.env.RUNBOOKS_TEST_LOGS;
  if (d) mkdirSync(d, { recursive: true });
  return d;
}

/** Every file under the run's log directory, searched for every registered secret. */
export function scanLogs(logDir: string, secretsDir: string): { logs: number; hits: ScanResult['hits'] } {
  const secrets = registeredSecrets(secretsDir);
  const files = existsSync(logDir)
    ? readdirSync(logDir, { recursive: true })
        .map(String)
        .filter((f) => !f.endsWith('/'))
    : [];
  const hits: ScanResult['hits'] = [];
  let logs = 0;
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(path.join(logDir, f), 'utf8');
    } catch {
      continue; // a directory
    }
    logs++;
    for (const s of secrets) if (text.includes(s.value)) hits.push({ where: `log ${f}`, label: s.label });
  }
  return { logs, hits };
}

const scansDir = () => (dir() ? `${dir()}-scans` : undefined);

/** Scans a private dev server before it stops; the run's scan adds it up (privateScans). */
export async function scanPrivateServer(address: string): Promise<void> {
  const d = scansDir();
  if (!d) return;
  mkdirSync(d, { recursive: true });
  const result = await scanHistories({ address }, dir()!).catch((err: Error): ScanResult => ({
    histories: 0,
    secrets: 0,
    hits: [],
    error: `private server ${address}: ${err.message}`,
  }));
  writeFileSync(
    path.join(d, `${process.pid}-${Date.now()}-${address.replace(/\W/g, '_')}.json`),
    JSON.stringify(result),
  );
}

/** The private dev servers' scans of this run. */
export function privateScans(secretsDir: string): ScanResult[] {
  const d = `${secretsDir}-scans`;
  return existsSync(d)
    ? readdirSync(d).map((f) => JSON.parse(readFileSync(path.join(d, f), 'utf8')) as ScanResult)
    : [];
}
