import { Redis } from 'ioredis';
import { parseDuration } from '../util/duration.js';
import { brokerUrl, type ImportsContext, importsSpec } from './imports-config.js';
import { withRedisConnection } from './redis-connection.js';

/** The broker's side of stuck-imports: the queue, `imports:*` keys and their locks, the Redis server. */

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

export interface QueueCheck {
  queue: string;
  broker: string;
  known: boolean;
  waitedMs: number;
}

/** A connection to the target's broker (unreachable: retried, the password redacted) for `fn`. */
function withRedis<T>(ctx: ImportsContext, target: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  return withRedisConnection(brokerUrl(ctx, target), { target, targetsFile: ctx.targets.file }, fn);
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

/** PING, queue depth, whether the queue is the app's, `imports:*` keys (SCAN, never KEYS) with their TTLs. */
export async function importsRedisEvidence(ctx: ImportsContext, target: string): Promise<ImportsRedisEvidence> {
  const s = importsSpec(ctx, target);
  const queue = s.celery?.queue ?? 'imports';
  return withRedis(ctx, target, async (r) => {
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
      broker: brokerUrl(ctx, target).shown,
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
}

/**
 * Whether the queue is declared in the broker (`_kombu.binding.<queue>`), waiting up to
 * `timeout` for it: after a restart, the worker declares its queues as its consumer starts.
 */
export async function importsQueueDeclared(
  ctx: ImportsContext,
  target: string,
  req: { timeout?: string } = {},
): Promise<QueueCheck> {
  const queue = importsSpec(ctx, target).celery?.queue ?? 'imports';
  const limit = parseDuration(req.timeout ?? '30s');
  return withRedis(ctx, target, async (r) => {
    const t0 = Date.now();
    for (;;) {
      const known = (await r.exists(`_kombu.binding.${queue}`)) === 1;
      const waitedMs = Date.now() - t0;
      if (known || waitedMs >= limit) return { queue, broker: brokerUrl(ctx, target).shown, known, waitedMs };
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });
}

/** Deletes lock keys that still have no TTL (checked again atomically, so a live lock taken meanwhile stays). */
export async function importsClearStaleLocks(
  ctx: ImportsContext,
  target: string,
  keys: string[],
): Promise<{ deleted: string[]; kept: string[] }> {
  return withRedis(ctx, target, async (r) => {
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
}
