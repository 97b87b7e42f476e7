import { runbook } from '../../engine/runbook.js';
import { reportScheduledFinding } from '../../engine/scheduled-check.js';
import type { RunbookResult } from '../../contract/types.js';
import { parseDuration } from '../../util/duration.js';
import { procedure } from './steps.js';
import type { RedisHealthInput } from './definition.js';
import { MAX_PING_MS, summarize, type RedisHealthFindings } from './texts.js';

/**
 * What an on-call engineer runs by hand with redis-cli when Redis is suspected. What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */
export async function redisHealth(input: RedisHealthInput): Promise<RunbookResult<RedisHealthFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  const limits = {
    maxPingMs: MAX_PING_MS,
    maxMemoryPercent: input.maxMemoryPercent ?? 90,
    maxBlockedClients: input.maxBlockedClients ?? 100,
    slowerThanMs: input.slowerThanMs ?? 100,
  };
  const window = input.slowlogWindow ?? '1h';
  return rb.run(async () => {
    await rb.resolveTarget();
    const ping = await rb.step('redis-ping', () => act.redisPing(input.target));
    const memory = await rb.step('redis-memory', () => act.redisMemory(input.target));
    const clients = await rb.step('redis-clients', () => act.redisClients(input.target));
    const slowlog = await rb.step(
      'redis-slowlog',
      () =>
        act.redisSlowlog(input.target, {
          slowerThanMs: limits.slowerThanMs,
          withinSeconds: parseDuration(window) / 1000,
        }),
      { inputs: { slowerThanMs: limits.slowerThanMs, window } },
    );

    const { healthy, problems, lines } = summarize({ ping, memory, clients, slowlog, limits });
    const result = {
      runbook: rb.name,
      target: input.target,
      healthy,
      summary: lines,
      findings: { ping, memory, clients, slowlog, limits, problems },
    };
    await reportScheduledFinding(rb, input, result);
    return result;
  });
}
