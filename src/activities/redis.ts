import { ApplicationFailure } from '@temporalio/common';
import { Redis } from 'ioredis';
import type { TargetRegistry } from '../targets.js';
import { redact } from '../util/redact.js';
import { FailureType, targetFailure, targetSpec } from './errors.js';
import { withRedisConnection } from './redis-connection.js';

/**
 * redis-health's eyes: a target's Redis (its `redis.url`, password from `redis.passwordEnv`),
 * read-only: PING, INFO, TIME, SLOWLOG, and CONFIG GET where allowed (managed Redis often denies it).
 * SLOWLOG entries are reported by command name: their arguments may hold secrets.
 */

export interface RedisPing {
  /** The URL without its password. */
  redis: string;
  /** Median of five PINGs on one connection, in ms. */
  pingMs: number;
  maxPingMs: number;
  version: string | null;
  uptimeSeconds: number | null;
  role: string | null;
}

export interface RedisMemory {
  usedBytes: number;
  usedHuman: string | null;
  /** 0: no limit. */
  maxBytes: number;
  /** used / max, in percent; null without a limit. */
  percent: number | null;
  policy: string | null;
  /** Keys evicted since the server started. */
  evictedKeys: number;
}

export interface RedisClients {
  connected: number;
  /** Clients waiting in a blocking command (BLPOP, BRPOP, XREAD BLOCK…): consumers waiting on a queue count too. */
  blocked: number;
}

export interface RedisSlowEntry {
  id: number;
  /** The command's name (and a container command's subcommand, e.g. `config set`); never its arguments. */
  command: string;
  durationMs: number;
  at: string;
  /** By the server's clock. */
  ageSeconds: number;
  client: string | null;
}

export interface RedisSlowlog {
  /** Entries the server keeps (SLOWLOG LEN) and the threshold it logs at (null where CONFIG is denied). */
  length: number;
  logSlowerThanMs: number | null;
  /** Entries read (SLOWLOG GET, newest first), and of those, the ones within the window. */
  read: number;
  withinSeconds: number;
  recent: number;
  /** Recent entries slower than slowerThanMs. */
  slowerThanMs: number;
  overThreshold: number;
  /** The slowest recent entries, slowest first (at most five). */
  slowest: RedisSlowEntry[];
}

/** Commands whose first argument names what they do (`CONFIG SET`, `CLIENT KILL`): kept with the name. */
const CONTAINERS = new Set([
  'acl',
  'client',
  'cluster',
  'command',
  'config',
  'debug',
  'function',
  'latency',
  'memory',
  'module',
  'object',
  'pubsub',
  'script',
  'slowlog',
  'xgroup',
  'xinfo',
]);

const field = (info: string, name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? null;
const num = (info: string, name: string) => {
  const v = field(info, name);
  return v === null ? null : Number(v);
};

export function createRedisActivities(targets: TargetRegistry) {
  function endpoint(target: string): { url: string; shown: string; password?: string } {
    const spec = targetSpec(targets, target);
    if (!spec.redis)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no redis section in ${targets.file}: add redis.url (and redis.passwordEnv) to check its Redis.`,
        FailureType.targetConfig,
      );
    try {
      const url = targets.redisUrl(target);
      const shown = spec.redis.url.replace(/\/\/[^@]*@/, '//');
      return { url, shown, password: url === spec.redis.url ? undefined : new URL(url).password };
    } catch (err) {
      return targetFailure(err);
    }
  }

  async function withRedis<T>(target: string, fn: (r: Redis, shown: string) => Promise<T>): Promise<T> {
    const e = endpoint(target);
    return withRedisConnection(e, { target, targetsFile: targets.file }, async (r) => {
      try {
        return await fn(r, e.shown);
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        throw ApplicationFailure.retryable(
          `Redis at ${e.shown} (target "${target}") refused a read: ${redact((err as Error).message, [e.password])}. The user in redis.url needs INFO and SLOWLOG.`,
          'RedisCommandFailed',
        );
      }
    });
  }

  return {
    /** PING five times on one connection (median and worst), the server's version, uptime and role. */
    async redisPing(target: string): Promise<RedisPing> {
      return withRedis(target, async (r, shown) => {
        const times: number[] = [];
        for (let i = 0; i < 5; i++) {
          const t0 = performance.now();
          await r.ping();
          times.push(performance.now() - t0);
        }
        times.sort((a, b) => a - b);
        const round = (ms: number) => Math.round(ms * 100) / 100;
        const server = await r.info('server');
        const replication = await r.info('replication');
        return {
          redis: shown,
          pingMs: round(times[2]!),
          maxPingMs: round(times[4]!),
          version: field(server, 'redis_version'),
          uptimeSeconds: num(server, 'uptime_in_seconds'),
          role: field(replication, 'role'),
        };
      });
    },

    /** Memory in use against maxmemory, the eviction policy, and the keys evicted since start (INFO memory, stats). */
    async redisMemory(target: string): Promise<RedisMemory> {
      return withRedis(target, async (r) => {
        const memory = await r.info('memory');
        const stats = await r.info('stats');
        const usedBytes = num(memory, 'used_memory') ?? 0;
        const maxBytes = num(memory, 'maxmemory') ?? 0;
        return {
          usedBytes,
          usedHuman: field(memory, 'used_memory_human'),
          maxBytes,
          percent: maxBytes > 0 ? Math.round((usedBytes / maxBytes) * 1000) / 10 : null,
          policy: field(memory, 'maxmemory_policy'),
          evictedKeys: num(stats, 'evicted_keys') ?? 0,
        };
      });
    },

    /** Clients connected, and those waiting in a blocking command (INFO clients). */
    async redisClients(target: string): Promise<RedisClients> {
      return withRedis(target, async (r) => {
        const clients = await r.info('clients');
        return { connected: num(clients, 'connected_clients') ?? 0, blocked: num(clients, 'blocked_clients') ?? 0 };
      });
    },

    /**
     * SLOWLOG GET: the entries of the last `withinSeconds` (by the server's clock), by command name
     * only, how many are slower than `slowerThanMs`, and the five slowest.
     */
    async redisSlowlog(target: string, opts: { slowerThanMs: number; withinSeconds: number }): Promise<RedisSlowlog> {
      return withRedis(target, async (r) => {
        const [seconds] = (await r.time()) as [string | number, string | number];
        const now = Number(seconds);
        const length = Number(await r.call('SLOWLOG', 'LEN'));
        const raw = (await r.call('SLOWLOG', 'GET', '128')) as unknown[][];
        // CONFIG is often denied on managed Redis: then the logging threshold is unknown, not absent.
        const logAt = await (r.config('GET', 'slowlog-log-slower-than') as Promise<string[]>).then(
          (v) => (v[1] === undefined ? null : Number(v[1]) / 1000),
          () => null,
        );
        const entries = raw.map((e): RedisSlowEntry => {
          const args = Array.isArray(e[3]) ? (e[3] as unknown[]).map(String) : [];
          const name = (args[0] ?? '?').toLowerCase();
          const sub = args[1]?.toLowerCase();
          const at = Number(e[1]);
          return {
            id: Number(e[0]),
            command: CONTAINERS.has(name) && sub && /^[a-z-]+$/.test(sub) ? `${name} ${sub}` : name,
            durationMs: Number(e[2]) / 1000,
            at: new Date(at * 1000).toISOString(),
            ageSeconds: Math.max(0, now - at),
            client: typeof e[4] === 'string' && e[4] ? e[4] : null,
          };
        });
        const recent = entries.filter((e) => e.ageSeconds <= opts.withinSeconds);
        recent.sort((a, b) => b.durationMs - a.durationMs || b.id - a.id);
        return {
          length,
          logSlowerThanMs: logAt,
          read: entries.length,
          withinSeconds: opts.withinSeconds,
          recent: recent.length,
          slowerThanMs: opts.slowerThanMs,
          overThreshold: recent.filter((e) => e.durationMs > opts.slowerThanMs).length,
          slowest: recent.slice(0, 5),
        };
      });
    },
  };
}
