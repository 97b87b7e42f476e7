import { open, stat } from 'node:fs/promises';
import { execa } from 'execa';
import { trimOutput } from '../util/redact.js';
import { celeryPing } from './celery.js';
import { childEnv } from './child-env.js';
import { type ImportsContext, importsSpec, type ImportsSpec } from './imports-config.js';
import type { ServiceStatus } from './services.js';

/** The import worker's side of stuck-imports (host-local): its log's start-up lines and Celery banner, its service, a Celery ping. */

export interface ImportsWorkerEvidence {
  service: ServiceStatus | null;
  flag: { variable: string; value: string | null; line: string | null };
  startupLines: string[];
  logSource: string | null;
  ping: { replied: string[]; error?: string };
  /** The broker and queues the worker's newest Celery start-up banner names (credentials masked), against the target's redis.url. */
  broker?: { url: string; queues: string[]; line: string; sameAsTarget: boolean } | null;
}

/** The value of `flag` in the newest start-up line that names it. */
export function flagFromLines(lines: string[], flag: string): { value: string | null; line: string | null } {
  const re = new RegExp(`\\b${flag}=(\\S*?)[,:;\\s]`, '');
  for (const line of [...lines].reverse()) {
    const m = re.exec(`${line} `);
    if (m) return { value: m[1] ?? '', line: line.trim() };
  }
  return { value: null, line: null };
}

/** The broker and queues named by the newest Celery worker banner (`.> transport: …`, then `.> <queue> exchange=…`). */
export function bannerFromLines(raw: string[]): { url: string; queues: string[]; line: string } | null {
  // eslint-disable-next-line no-control-regex -- a banner printed to a terminal carries colour codes
  const lines = raw.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
  let i = lines.length - 1;
  while (i >= 0 && !/\.> transport:\s+\S/.test(lines[i]!)) i--;
  if (i < 0) return null;
  const url = withoutUserinfo(/\.> transport:\s+(\S+)/.exec(lines[i]!)![1]!);
  const queues: string[] = [];
  for (const l of lines.slice(i + 1, i + 40)) {
    if (/\.> transport:/.test(l)) break;
    const m = /\.> (\S+)\s+exchange=/.exec(l);
    if (m) queues.push(m[1]!);
  }
  return { url, queues, line: `.> transport:   ${url}` };
}

function withoutUserinfo(u: string): string {
  return u.replace(/\/\/[^@/]*@/, '//');
}

/** scheme://host:port/db with the defaults filled in and loopback names made one, so two spellings of one broker compare equal. */
export function brokerKey(u: string): string | null {
  try {
    const url = new URL(withoutUserinfo(u));
    const host = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) ? 'localhost' : url.hostname.toLowerCase();
    const db = Number(url.pathname.replace(/\//g, '') || '0');
    return `${url.protocol}//${host}:${url.port || '6379'}/${Number.isNaN(db) ? url.pathname : db}`;
  } catch {
    return null;
  }
}

/** The worker log's last lines (file tail or journal): its start-up lines and its Celery banner are read from them. */
async function logTail(ctx: ImportsContext, s: ImportsSpec): Promise<{ lines: string[]; source: string | null }> {
  if (s.logs?.file) {
    const size = (await stat(s.logs.file).catch(() => null))?.size;
    if (size === undefined) return { lines: [], source: `${s.logs.file} (missing)` };
    const fh = await open(s.logs.file, 'r');
    try {
      const length = Math.min(size, 512 * 1024);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, size - length);
      return { lines: buf.toString('utf8').split('\n'), source: s.logs.file };
    } finally {
      await fh.close();
    }
  }
  if (s.logs?.journal) {
    const r = await execa('journalctl', ['-u', s.logs.journal, '-n', '5000', '-o', 'cat', '--no-pager'], {
      env: childEnv({}, { env: ctx.env }),
      extendEnv: false,
      reject: false,
      timeout: 30_000,
    });
    if (r.exitCode !== 0)
      return {
        lines: [],
        source: `journal of ${s.logs.journal} (journalctl failed: ${trimOutput(r.stderr || String(r.exitCode), 2, 300)})`,
      };
    return { lines: r.stdout.split('\n'), source: `journal of ${s.logs.journal}` };
  }
  return { lines: [], source: null };
}

/** The worker's side (host-local): start-up lines and the flag they report, the service's status, Celery ping. */
export async function importsWorkerEvidence(ctx: ImportsContext, target: string): Promise<ImportsWorkerEvidence> {
  const s = importsSpec(ctx, target);
  const logs = await logTail(ctx, s);
  const logger = s.logs?.startupLogger ?? 'app.startup';
  const lines = logs.lines.filter((l) => l.includes(logger)).slice(-10);
  const flag = flagFromLines(lines, s.flagEnv);
  const banner = bannerFromLines(logs.lines);
  const targetKey = ctx.targets.spec(target).redis ? brokerKey(ctx.targets.spec(target).redis!.url) : null;
  const broker = banner && { ...banner, sameAsTarget: targetKey !== null && brokerKey(banner.url) === targetKey };
  const service = s.service ? await ctx.services.serviceStatus(target, s.service) : null;
  let ping: ImportsWorkerEvidence['ping'];
  try {
    ping = { replied: await celeryPing(ctx, target, 3) };
  } catch (err) {
    ping = { replied: [], error: (err as Error).message };
  }
  return {
    service,
    flag: { variable: s.flagEnv, ...flag },
    startupLines: lines,
    logSource: logs.source,
    ping,
    broker,
  };
}
