import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { TargetsError, type TargetRegistry, type TargetSpec } from '../targets.js';
import { parseDuration } from '../util/duration.js';
import { redact, trimOutput } from '../util/redact.js';
import { childEnv } from './child-env.js';
import { FailureType } from './errors.js';
import { startHeartbeats } from './heartbeat.js';
import { withPg } from './postgres.js';
import { createServiceActivities, type ServiceStatus } from './services.js';

/**
 * stuck-imports' eyes and hands: the import tables in PostgreSQL, the broker and `imports:*` keys
 * in Redis, the worker's start-up log lines and liveness, and the three remedies (stale Redis
 * locks, sessions holding row locks, re-enqueue through the app's own Celery app with a ledger).
 */

export interface ImportsDbEvidence {
  batches: Record<string, number>;
  items: Record<string, number>;
  /** Items in a waiting status not updated for longer than stuckAfter. */
  stuck: {
    count: number;
    oldest: string | null;
    sample: number[];
    olderThan: string;
    cutoff: string;
    oldestAgeSeconds?: number | null;
  };
  /** Items in a failed status (imports.failed); alreadyRetried: retried once by an earlier run (the ledger), never again. */
  failed?: {
    statuses: string[];
    count: number;
    sample: number[];
    alreadyRetried: number;
    alreadyRetriedSample: number[];
  };
  /** With a generation: the failed items that run retried, by their status now. */
  retried?: { byStatus: Record<string, number>; waiting: number; failedAgain: number[] };
  /** Sessions idle in a transaction that holds locks on the import tables. */
  rowLocks: Array<{
    pid: number;
    user: string | null;
    state: string | null;
    idleSeconds: number;
    tables: string[];
    query: string | null;
    blocking: number;
  }>;
}

export interface ImportsRedisEvidence {
  broker: string;
  pingMs: number;
  queue: string;
  queueDepth: number;
  /** Messages delivered to a worker and not yet acknowledged (kombu's `unacked` hash, all queues of this DB). */
  inFlight: number;
  /** Celery declared this queue in this Redis DB (`_kombu.binding.<queue>`): the broker is the app's. */
  queueKnown: boolean;
  keys: Array<{ key: string; type: string; ttl: number }>;
  keysTruncated: boolean;
  /** Lock keys with no TTL: nothing will ever release them. */
  staleLocks: string[];
  /** The Redis server itself: a restart shows as an uptime shorter than the items' wait; persistence null where CONFIG is not allowed. */
  server?: { uptimeSeconds: number | null; keysInDb: number; appendOnly: boolean | null; savePoints: string | null };
}

export interface ImportsWorkerEvidence {
  service: ServiceStatus | null;
  flag: { variable: string; value: string | null; line: string | null };
  startupLines: string[];
  logSource: string | null;
  ping: { replied: string[]; error?: string };
  /** The broker and queues the worker's newest Celery start-up banner names (credentials masked), against the target's redis.url. */
  broker?: { url: string; queues: string[]; line: string; sameAsTarget: boolean } | null;
}

export interface ReenqueueResult {
  generation: string;
  published: number;
  alreadyPublished: number;
  batches: number;
  ledger: string;
  /** Failed items this generation set back to waiting and published (retryFailed), each once ever. */
  retried?: number;
  retriedSample?: number[];
}

export interface QueueCheck {
  queue: string;
  broker: string;
  known: boolean;
  waitedMs: number;
}

const CELERY_TOOL = fileURLToPath(new URL('./python/celery_tool.py', import.meta.url));
const LEDGER = 'durable_runbooks.import_reenqueue';

/** Whether the ledger exists with its retried_from column (added with retryFailed; older ledgers lack it until a re-enqueue adds it). */
async function ledgerTracksRetries(c: import('pg').Client): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(`select exists (select 1 from information_schema.columns
     where table_schema = 'durable_runbooks' and table_name = 'import_reenqueue' and column_name = 'retried_from') as ok`);
  return rows[0]!.ok;
}

/** Quotes a (possibly schema-qualified) identifier from the targets file. */
export function qi(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
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

type ImportsSpec = NonNullable<TargetSpec['imports']>;

export function createImportsActivities(targets: TargetRegistry, env: NodeJS.ProcessEnv = process.env) {
  const services = createServiceActivities(targets, env);

  function spec(target: string): ImportsSpec {
    try {
      const s = targets.spec(target).imports;
      if (!s)
        throw ApplicationFailure.nonRetryable(
          `Target "${target}" has no imports section in ${targets.file}; stuck-imports needs it (tables, statuses, Celery app, worker service).`,
          FailureType.targetConfig,
        );
      return s;
    } catch (err) {
      if (err instanceof TargetsError) throw ApplicationFailure.nonRetryable(err.message, FailureType.targetConfig);
      throw err;
    }
  }

  function brokerUrl(target: string): { url: string; shown: string; password?: string } {
    try {
      const url = targets.redisUrl(target);
      const shown = targets.spec(target).redis!.url.replace(/\/\/[^@]*@/, '//');
      return { url, shown, password: url === targets.spec(target).redis!.url ? undefined : new URL(url).password };
    } catch (err) {
      if (err instanceof TargetsError) throw ApplicationFailure.nonRetryable(err.message, FailureType.targetConfig);
      throw err;
    }
  }

  async function withRedis<T>(target: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    const b = brokerUrl(target);
    const r = new Redis(b.url, {
      lazyConnect: true,
      connectTimeout: 3_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    r.on('error', () => undefined);
    try {
      await r.connect();
    } catch (err) {
      throw ApplicationFailure.retryable(
        `Cannot reach Redis at ${b.shown} (target "${target}"): ${redact((err as Error).message, [b.password])}. Check that Redis runs and redis.url in ${targets.file}.`,
        'RedisUnreachable',
      );
    }
    try {
      return await fn(r);
    } finally {
      r.disconnect();
    }
  }

  /** Uptime, this DB's key count and persistence: what tells a broker that restarted empty from one that never held the app's data. */
  async function serverFacts(r: Redis): Promise<NonNullable<ImportsRedisEvidence['server']>> {
    const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
    const info = await r.info('server').catch(() => '');
    const persistence = await r.info('persistence').catch(() => '');
    const uptime = field(info, 'uptime_in_seconds');
    const aof = field(persistence, 'aof_enabled');
    // CONFIG is often renamed or denied on managed Redis: then persistence is unknown, not absent.
    const save = await (r.config('GET', 'save') as Promise<string[]>).then(
      (v) => v[1] ?? null,
      () => null,
    );
    return {
      uptimeSeconds: uptime === undefined ? null : Number(uptime),
      keysInDb: await r.dbsize(),
      appendOnly: aof === undefined ? null : aof === '1',
      savePoints: save,
    };
  }

  /** Checks the import tables exist, naming the one that does not. */
  async function tablesExist(c: import('pg').Client, s: ImportsSpec, target: string): Promise<void> {
    for (const t of [s.batches, s.items]) {
      const { rows } = await c.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [qi(t)]);
      if (!rows[0]?.ok) {
        throw ApplicationFailure.nonRetryable(
          `Table ${t} does not exist in the database of target "${target}". Check imports.batches/imports.items in ${targets.file}, or whether the app's migrations ran.`,
          'ImportsTablesMissing',
        );
      }
    }
  }

  function celerySpec(target: string) {
    const s = spec(target);
    if (!s.celery)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no imports.celery section in ${targets.file}: without the app's Celery app nothing can be published or pinged.`,
        FailureType.targetConfig,
      );
    const b = brokerUrl(target);
    const failed = (output: string) =>
      ApplicationFailure.nonRetryable(
        `The app's Celery (${s.celery!.app}, in ${s.celery!.cwd ?? "the worker's directory"}) failed: ${trimOutput(redact(output, [b.password]), 8, 1200)}`,
        'CeleryFailed',
      );
    // The broker down (Redis restarting, a failover): retried, as the ledger makes a repeat safe.
    const brokerDown = (detail: string) =>
      ApplicationFailure.retryable(
        `The broker ${b.shown} could not be reached by the app's Celery (${trimOutput(redact(detail, [b.password]), 2, 400)}): retried; items already published are in the ledger and are not published again.`,
        'BrokerUnavailable',
      );
    return {
      celery: s.celery,
      argv: [CELERY_TOOL, s.celery.app],
      opts: {
        cwd: s.celery.cwd,
        env: childEnv(
          { [s.celery.brokerEnv]: b.url, PYTHONDONTWRITEBYTECODE: '1' },
          { pass: targets.passEnv(target), env },
        ),
      },
      failed,
      brokerDown,
    };
  }

  async function celeryPing(target: string, timeoutS: number): Promise<string[]> {
    const c = celerySpec(target);
    const r = await execa(c.celery.python, [...c.argv, 'ping', String(timeoutS)], {
      ...c.opts,
      extendEnv: false,
      reject: false,
      timeout: 60_000,
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith('CELERY_JSON '));
    if (r.exitCode !== 0 || !line) throw c.failed(`${r.stderr}\n${r.stdout}`);
    return (JSON.parse(line.slice('CELERY_JSON '.length)) as { replied: string[] }).replied;
  }

  /** One publisher process for a whole re-enqueue: batches in, an acknowledgement per batch out. */
  function celeryPublisher(target: string) {
    const c = celerySpec(target);
    const proc = spawn(c.celery.python, [...c.argv, 'publish', c.celery.task, c.celery.queue], {
      ...c.opts,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
    });
    const lines = createInterface({ input: proc.stdout });
    const acks: string[] = [];
    let waiting: ((line: string | null) => void) | undefined;
    lines.on('line', (l) => {
      if (!l.startsWith('CELERY_JSON ')) return;
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w(l);
      } else acks.push(l);
    });
    const exited = new Promise<null>((resolve) => proc.on('close', () => resolve(null)));
    proc.on('error', () => undefined);
    proc.stdin.on('error', () => undefined); // a publisher that died is reported by publish()
    return {
      async publish(rows: Array<{ item_id: string; task_id: string }>): Promise<number> {
        proc.stdin.write(rows.map((r) => `${r.item_id} ${r.task_id}\n`).join('') + 'FLUSH\n');
        const line =
          acks.shift() ??
          (await Promise.race([
            new Promise<string | null>((resolve) => {
              waiting = resolve;
            }),
            exited,
          ]));
        if (line === null) throw c.failed(stderr || `the publisher exited (code ${proc.exitCode})`);
        const answer = JSON.parse(line.slice('CELERY_JSON '.length)) as {
          published?: number;
          error?: string;
          detail?: string;
        };
        if (answer.error === 'broker-unavailable') throw c.brokerDown(answer.detail ?? stderr);
        const published = answer.published ?? -1;
        if (published !== rows.length)
          throw c.failed(`the publisher acknowledged ${published} of ${rows.length} messages`);
        return published;
      },
      async close(): Promise<void> {
        proc.stdin.end();
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        proc.kill('SIGKILL');
      },
    };
  }

  /** The worker log's last lines (file tail or journal): its start-up lines and its Celery banner are read from them. */
  async function logTail(s: ImportsSpec): Promise<{ lines: string[]; source: string | null }> {
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
        env: childEnv({}, { env }),
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

  return {
    /** Counts by status, stuck items, and sessions idle in a transaction holding locks on the tables. */
    async importsDbEvidence(
      target: string,
      req: { stuckAfter?: string; updatedBefore?: string; generation?: string } = {},
    ): Promise<ImportsDbEvidence> {
      const s = spec(target);
      const olderThan = req.updatedBefore ? `an update before ${req.updatedBefore}` : (req.stuckAfter ?? s.stuckAfter);
      return withPg(targets, target, async (c) => {
        await tablesExist(c, s, target);
        // The cutoff is the server's clock, so the app's timestamps and ours compare.
        const cutoff =
          req.updatedBefore ??
          (
            await c.query<{ t: string }>(`select (now() - make_interval(secs => $1))::text as t`, [
              parseDuration(req.stuckAfter ?? s.stuckAfter) / 1000,
            ])
          ).rows[0]!.t;
        const counts = async (t: string) =>
          Object.fromEntries(
            (
              await c.query<{ status: string; n: string }>(
                `select ${qi(s.status)}::text as status, count(*) as n from ${qi(t)} group by 1 order by 1`,
              )
            ).rows.map((r) => [r.status, Number(r.n)]),
          );
        const stuck = (
          await c.query<{ n: string; oldest: string | null; sample: number[] | null; age: number | null }>(
            `select count(*) as n, min(${qi(s.updatedAt)})::text as oldest, (array_agg(id order by id))[1:10] as sample,
                  floor(extract(epoch from now() - min(${qi(s.updatedAt)})))::int as age
             from ${qi(s.items)} where ${qi(s.status)} = any($1) and ${qi(s.updatedAt)} <= $2::timestamptz`,
            [s.waiting, cutoff],
          )
        ).rows[0]!;
        const tracked = await ledgerTracksRetries(c);
        const retriedBefore = tracked
          ? `exists (select 1 from ${LEDGER} l where l.item_id = i.id and l.retried_from is not null)`
          : 'false';
        const failed = (
          await c.query<{ n: string; sample: number[] | null; retried: string; retried_sample: number[] | null }>(
            `select count(*) as n, (array_agg(id order by id) filter (where not ${retriedBefore}))[1:10] as sample,
                  count(*) filter (where ${retriedBefore}) as retried, (array_agg(id order by id) filter (where ${retriedBefore}))[1:10] as retried_sample
             from ${qi(s.items)} i where ${qi(s.status)} = any($1)`,
            [s.failed],
          )
        ).rows[0]!;
        let retried: ImportsDbEvidence['retried'];
        if (req.generation && tracked) {
          const rows = (
            await c.query<{ status: string; n: string; ids: number[] }>(
              `select i.${qi(s.status)}::text as status, count(*) as n, (array_agg(i.id order by i.id))[1:10] as ids
               from ${LEDGER} l join ${qi(s.items)} i on i.id = l.item_id
              where l.generation = $1 and l.retried_from is not null group by 1 order by 1`,
              [req.generation],
            )
          ).rows;
          retried = {
            byStatus: Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])),
            waiting: rows.filter((r) => s.waiting.includes(r.status)).reduce((n, r) => n + Number(r.n), 0),
            failedAgain: rows.filter((r) => s.failed.includes(r.status)).flatMap((r) => r.ids),
          };
        }
        const rowLocks = (
          await c.query<ImportsDbEvidence['rowLocks'][number]>(
            `select a.pid, a.usename as "user", a.state, floor(extract(epoch from now() - a.state_change))::int as "idleSeconds",
                  array_agg(distinct l.relation::regclass::text) as tables, left(a.query, 200) as query,
                  (select count(*) from pg_stat_activity w where a.pid = any(pg_blocking_pids(w.pid)))::int as blocking
             from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.relation in (to_regclass($1), to_regclass($2)) and a.pid <> pg_backend_pid()
              and a.state in ('idle in transaction', 'idle in transaction (aborted)')
            group by a.pid, a.usename, a.state, a.state_change, a.query order by a.state_change`,
            [qi(s.batches), qi(s.items)],
          )
        ).rows;
        return {
          batches: await counts(s.batches),
          items: await counts(s.items),
          stuck: {
            count: Number(stuck.n),
            oldest: stuck.oldest,
            sample: stuck.sample ?? [],
            olderThan,
            cutoff,
            oldestAgeSeconds: stuck.age,
          },
          failed: {
            statuses: s.failed,
            count: Number(failed.n),
            sample: failed.sample ?? [],
            alreadyRetried: Number(failed.retried),
            alreadyRetriedSample: failed.retried_sample ?? [],
          },
          ...(retried ? { retried } : {}),
          rowLocks,
        };
      });
    },

    /** PING, queue depth, whether the queue is the app's, `imports:*` keys (SCAN, never KEYS) with their TTLs. */
    async importsRedisEvidence(target: string): Promise<ImportsRedisEvidence> {
      const s = spec(target);
      const queue = s.celery?.queue ?? 'imports';
      return withRedis(target, async (r) => {
        const t0 = performance.now();
        await r.ping();
        const pingMs = Math.round(performance.now() - t0);
        const queueDepth = await r.llen(queue);
        const queueKnown = (await r.exists(`_kombu.binding.${queue}`)) === 1;
        const inFlight = await r.hlen('unacked');
        const keys: ImportsRedisEvidence['keys'] = [];
        let cursor = '0';
        let truncated = false;
        do {
          const [next, batch] = await r.scan(cursor, 'MATCH', s.keys, 'COUNT', 500);
          cursor = next;
          for (const key of batch) {
            if (keys.length >= 1000) {
              truncated = true;
              break;
            }
            keys.push({ key, type: await r.type(key), ttl: await r.ttl(key) });
          }
        } while (cursor !== '0' && !truncated);
        keys.sort((a, b) => a.key.localeCompare(b.key));
        return {
          broker: brokerUrl(target).shown,
          pingMs,
          queue,
          queueDepth,
          inFlight,
          queueKnown,
          keys,
          keysTruncated: truncated,
          staleLocks: keys.filter((k) => /lock/i.test(k.key) && k.ttl === -1).map((k) => k.key),
          server: await serverFacts(r),
        };
      });
    },

    /**
     * Whether the queue is declared in the broker (`_kombu.binding.<queue>`), waiting up to
     * `timeout` for it: after a restart, the worker declares its queues as its consumer starts.
     */
    async importsQueueDeclared(target: string, req: { timeout?: string } = {}): Promise<QueueCheck> {
      const queue = spec(target).celery?.queue ?? 'imports';
      const limit = parseDuration(req.timeout ?? '30s');
      return withRedis(target, async (r) => {
        const t0 = Date.now();
        for (;;) {
          const known = (await r.exists(`_kombu.binding.${queue}`)) === 1;
          const waitedMs = Date.now() - t0;
          if (known || waitedMs >= limit) return { queue, broker: brokerUrl(target).shown, known, waitedMs };
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      });
    },

    /** The worker's side (host-local): start-up lines and the flag they report, the service's status, Celery ping. */
    async importsWorkerEvidence(target: string): Promise<ImportsWorkerEvidence> {
      const s = spec(target);
      const logs = await logTail(s);
      const logger = s.logs?.startupLogger ?? 'app.startup';
      const lines = logs.lines.filter((l) => l.includes(logger)).slice(-10);
      const flag = flagFromLines(lines, s.flagEnv);
      const banner = bannerFromLines(logs.lines);
      const targetKey = targets.spec(target).redis ? brokerKey(targets.spec(target).redis!.url) : null;
      const broker = banner && { ...banner, sameAsTarget: targetKey !== null && brokerKey(banner.url) === targetKey };
      const service = s.service ? await services.serviceStatus(target, s.service) : null;
      let ping: ImportsWorkerEvidence['ping'];
      try {
        ping = { replied: await celeryPing(target, 3) };
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
    },

    /** Deletes lock keys that still have no TTL (checked again atomically, so a live lock taken meanwhile stays). */
    async importsClearStaleLocks(target: string, keys: string[]): Promise<{ deleted: string[]; kept: string[] }> {
      return withRedis(target, async (r) => {
        const deleted: string[] = [];
        const kept: string[] = [];
        for (const key of keys) {
          const n = (await r.eval(
            `if redis.call('ttl', KEYS[1]) == -1 then return redis.call('del', KEYS[1]) else return 0 end`,
            1,
            key,
          )) as number;
          (n === 1 ? deleted : kept).push(key);
        }
        return { deleted, kept };
      });
    },

    /** Ends sessions still idle in a transaction holding locks on the import tables (checked again first). */
    async importsEndBlockingSessions(target: string, pids: number[]): Promise<{ ended: number[]; gone: number[] }> {
      const s = spec(target);
      return withPg(targets, target, async (c) => {
        const ended: number[] = [];
        const gone: number[] = [];
        for (const pid of pids) {
          const { rows } = await c.query<{ ok: boolean }>(
            `select pg_terminate_backend(a.pid) as ok from pg_stat_activity a
              where a.pid = $1 and a.state in ('idle in transaction', 'idle in transaction (aborted)')
                and exists (select 1 from pg_locks l where l.pid = a.pid and l.relation in (to_regclass($2), to_regclass($3)))`,
            [pid, qi(s.batches), qi(s.items)],
          );
          (rows[0]?.ok ? ended : gone).push(pid);
        }
        return { ended, gone };
      });
    },

    /**
     * Re-enqueues the items still waiting that were last updated before the diagnosis' cutoff,
     * through the app's own Celery app, each once per generation: a
     * ledger row (with the deterministic task id) is committed before its publish and marked after
     * it. A retry first re-publishes the ledger rows not marked (a duplicate message is harmless:
     * the same task id, and the app's task changes status only from a waiting one), then takes new
     * items with no ledger row. Done items are never selected. Heartbeats report progress.
     */
    async importsReenqueue(
      target: string,
      req: { generation: string; updatedBefore: string; batchSize?: number; stuck?: boolean; retryFailed?: boolean },
    ): Promise<ReenqueueResult> {
      const s = spec(target);
      if (!s.celery)
        throw ApplicationFailure.nonRetryable(
          `Target "${target}" has no imports.celery section in ${targets.file}: nothing can be published.`,
          FailureType.targetConfig,
        );
      const size = req.batchSize ?? 1000;
      let published = 0;
      let alreadyPublished = 0;
      let batches = 0;
      let retried: Pick<ReenqueueResult, 'retried' | 'retriedSample'> = {};
      type Taken = Array<{ item_id: string; task_id: string }>;
      /** Waiting items last updated before the diagnosis with no ledger row in this generation. */
      async function takeStuck(c: import('pg').Client, after: number): Promise<Taken> {
        return (
          await c.query<{ item_id: string; task_id: string }>(
            `insert into ${LEDGER} (generation, item_id, task_id)
             select $1, i.id, 'rb-' || $1 || '-' || i.id from ${qi(s.items)} i
              where i.${qi(s.status)} = any($2) and i.${qi(s.updatedAt)} <= $3::timestamptz
                and i.id > $5 and not exists (select 1 from ${LEDGER} l where l.generation = $1 and l.item_id = i.id)
              order by i.id limit $4
           on conflict do nothing returning item_id, task_id`,
            [req.generation, s.waiting, req.updatedBefore, size, after],
          )
        ).rows;
      }
      /**
       * Failed items never retried before (by any run): in one statement, a ledger row recording the
       * status it failed with, and the item set back to waiting, as the app does when it enqueues.
       */
      async function takeFailed(c: import('pg').Client, after: number): Promise<Taken> {
        return (
          await c.query<{ item_id: string; task_id: string }>(
            `with picked as (
             select i.id, i.${qi(s.status)}::text as status from ${qi(s.items)} i
              where i.${qi(s.status)} = any($2) and i.id > $4
                and not exists (select 1 from ${LEDGER} l where l.item_id = i.id and (l.retried_from is not null or l.generation = $1))
              order by i.id limit $3 for update of i
           ), recorded as (
             insert into ${LEDGER} (generation, item_id, task_id, retried_from)
             select $1, id, 'rb-' || $1 || '-' || id, status from picked
             on conflict do nothing returning item_id, task_id
           ), reset as (
             update ${qi(s.items)} i set ${qi(s.status)} = $5, ${qi(s.updatedAt)} = now() from recorded r where i.id = r.item_id returning i.id
           )
           select item_id, task_id from recorded order by item_id`,
            [req.generation, s.failed, size, after, s.retryAs ?? s.waiting.at(-1)],
          )
        ).rows;
      }
      const publisher = celeryPublisher(target);
      // A heartbeat after each batch, and every 2 s while one is slow (the publisher starting on a
      // loaded host): a slow batch is not a dead worker, and must not time the attempt out.
      const beats = startHeartbeats(() => ({ published, batches }));
      await withPg(
        targets,
        target,
        async (c) => {
          await tablesExist(c, s, target);
          await c.query(`create schema if not exists durable_runbooks`);
          await c.query(`create table if not exists ${LEDGER} (generation text not null, item_id bigint not null, task_id text not null,
          recorded_at timestamptz not null default now(), published_at timestamptz, primary key (generation, item_id))`);
          // retried_from: the failed status a retried item was set back from; one such row per item ever.
          await c.query(`alter table ${LEDGER} add column if not exists retried_from text`);
          await c.query(
            `create index if not exists import_reenqueue_retried on ${LEDGER} (item_id) where retried_from is not null`,
          );
          alreadyPublished = Number(
            (
              await c.query<{ n: string }>(
                `select count(*) as n from ${LEDGER} where generation = $1 and published_at is not null`,
                [req.generation],
              )
            ).rows[0]!.n,
          );
          // Stuck items first, then (opt-in) failed ones; each source read in id order from where it left off.
          const sources = [...(req.stuck === false ? [] : [takeStuck]), ...(req.retryFailed ? [takeFailed] : [])];
          for (const take of sources) {
            let after = 0; // keyset: each batch starts after the last id taken (no rescan of the table)
            for (;;) {
              let { rows } = await c.query<{ item_id: string; task_id: string }>(
                `select item_id, task_id from ${LEDGER} where generation = $1 and published_at is null order by item_id limit $2`,
                [req.generation, size],
              );
              if (rows.length === 0) {
                rows = await take(c, after);
                if (rows.length === 0) break;
                after = Math.max(after, ...rows.map((r) => Number(r.item_id)));
              }
              await publisher.publish(rows);
              await c.query(
                `update ${LEDGER} set published_at = now() where generation = $1 and item_id = any($2::bigint[])`,
                [req.generation, rows.map((r) => r.item_id)],
              );
              published += rows.length;
              batches++;
              beats.beat({ published, batches });
            }
          }
          if (req.retryFailed) {
            const r = (
              await c.query<{ n: string; ids: number[] | null }>(
                `select count(*) as n, (array_agg(item_id order by item_id))[1:10]::bigint[] as ids from ${LEDGER} where generation = $1 and retried_from is not null`,
                [req.generation],
              )
            ).rows[0]!;
            retried = { retried: Number(r.n), retriedSample: (r.ids ?? []).map(Number) };
          }
        },
        { statementTimeoutMs: 120_000 },
      ).finally(() => {
        beats.stop();
        return publisher.close();
      });
      return { generation: req.generation, published, alreadyPublished, batches, ledger: LEDGER, ...retried };
    },
  };
}
