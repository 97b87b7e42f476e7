import type { RedisClients, RedisMemory, RedisPing, RedisSlowlog } from '../../activities/index.js';

/** redis-health's texts: its verdict and summary lines, apart from the control flow. */

export interface RedisHealthFindings {
  ping: RedisPing;
  memory: RedisMemory;
  clients: RedisClients;
  slowlog: RedisSlowlog;
  /** The thresholds the verdict used. */
  limits: { maxPingMs: number; maxMemoryPercent: number; maxBlockedClients: number; slowerThanMs: number };
  /** What made the verdict unhealthy, one short name each. */
  problems: Array<'slow-ping' | 'memory-full' | 'evictions' | 'blocked-clients' | 'slow-commands'>;
}

/** A PING slower than this, on a connection already open, is a Redis in trouble (or a network that is). */
export const MAX_PING_MS = 100;

/** Seconds as the largest whole unit: 90061 → 1d. */
function duration(s: number): string {
  if (s >= 86_400) return `${Math.floor(s / 86_400)}d`;
  if (s >= 3_600) return `${Math.floor(s / 3_600)}h`;
  if (s >= 60) return `${Math.floor(s / 60)}m`;
  return `${s}s`;
}

/** The run's verdict and its summary, one line a finding. */
export function summarize(f: Omit<RedisHealthFindings, 'problems'>): {
  healthy: boolean;
  problems: RedisHealthFindings['problems'];
  lines: string[];
} {
  const { ping, memory, clients, slowlog, limits } = f;
  const problems: RedisHealthFindings['problems'] = [];
  const lines: string[] = [];

  const server = `Redis ${ping.version ?? '(version unknown)'}${ping.role ? `, ${ping.role}` : ''}${ping.uptimeSeconds === null ? '' : `, up ${duration(ping.uptimeSeconds)}`}`;
  if (ping.pingMs > limits.maxPingMs) problems.push('slow-ping');
  lines.push(
    `${ping.redis}: PING in ${ping.pingMs} ms (worst of 5: ${ping.maxPingMs} ms)${ping.pingMs > limits.maxPingMs ? `, slower than ${limits.maxPingMs} ms: check the server's load and the network` : ''}; ${server}.`,
  );

  const policy = memory.policy ?? 'unknown';
  if (memory.maxBytes === 0) {
    lines.push(
      `Memory: ${memory.usedHuman ?? memory.usedBytes} in use, no maxmemory limit (policy ${policy}): Redis grows until the host runs out.`,
    );
  } else {
    const full = (memory.percent ?? 0) >= limits.maxMemoryPercent;
    if (full) problems.push('memory-full');
    const then =
      policy === 'noeviction'
        ? 'writes are refused once it is full'
        : `keys are evicted once it is full (${policy}): a broker's queued messages can be lost`;
    lines.push(
      `Memory: ${memory.usedHuman ?? memory.usedBytes} of ${memory.maxBytes} bytes (${memory.percent}%)${full ? `, at or above ${limits.maxMemoryPercent}%` : ''}; policy ${policy}: ${then}.`,
    );
  }
  if (memory.evictedKeys > 0) {
    problems.push('evictions');
    lines.push(
      `${memory.evictedKeys} key(s) evicted since Redis started (policy ${policy}): data, queued messages or locks may have been dropped; raise maxmemory or use noeviction for a broker.`,
    );
  } else lines.push('No key evicted since Redis started.');

  if (clients.blocked > limits.maxBlockedClients) problems.push('blocked-clients');
  lines.push(
    `Clients: ${clients.connected} connected, ${clients.blocked} blocked in BLPOP/BRPOP/XREAD${clients.blocked > limits.maxBlockedClients ? `, more than ${limits.maxBlockedClients}: find them with CLIENT LIST (cmd=blpop/brpop) and what they wait for` : ' (consumers waiting on queues are normal)'}.`,
  );

  const window = duration(slowlog.withinSeconds);
  if (slowlog.overThreshold > 0) problems.push('slow-commands');
  if (slowlog.recent === 0) {
    lines.push(`Slow log: no entry in the last ${window} (${slowlog.length} kept in all).`);
  } else {
    const slowest = slowlog.slowest.map((e) => `${e.command} ${e.durationMs} ms`).join(', ');
    lines.push(
      slowlog.overThreshold > 0
        ? `Slow log: ${slowlog.overThreshold} command(s) in the last ${window} took longer than ${limits.slowerThanMs} ms; slowest: ${slowest}.`
        : `Slow log: ${slowlog.recent} entry(ies) in the last ${window}, none longer than ${limits.slowerThanMs} ms; slowest: ${slowest}.`,
    );
  }

  lines.unshift(
    problems.length === 0
      ? `Healthy: ${ping.redis} answers, has memory to spare, evicts nothing and runs no slow commands.`
      : `Unhealthy: ${problems.join(', ')}.`,
  );
  return { healthy: problems.length === 0, problems, lines };
}
