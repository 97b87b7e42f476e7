import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunbookResult } from '../src/contract/types.js';
import { procedure } from '../src/runbooks/redis-health/steps.js';
import type { RedisHealthFindings } from '../src/runbooks/redis-health/texts.js';
import { finished, historyText, startRig, uniqueName, writeTargets, type TestRig } from './support/harness.js';
import { startRedis, type TestRedis } from './support/redisserver.js';
import { until } from './support/wait.js';

// The machine's Redis (shared with other tests: read only here), and a Redis of the test's own
// with a password, where the test makes it unhealthy: a blocked client, a slow command.
describe('redis-health', () => {
  let rig: TestRig;
  let own: TestRedis;

  beforeAll(async () => {
    own = await startRedis({ persistence: false });
    const file = writeTargets({
      'shared-redis': { redis: { url: 'redis://127.0.0.1:6379/0' } },
      'own-redis': { redis: { url: `redis://127.0.0.1:${own.port}/0`, passwordEnv: 'OWN_REDIS_PASSWORD' } },
      'nowhere-redis': { redis: { url: 'redis://127.0.0.1:1/0' } },
    });
    rig = await startRig(file, { env: { ...process.env, OWN_REDIS_PASSWORD: own.password } });
  });
  afterAll(async () => {
    await rig?.stop();
    await own?.stop();
  });

  const check = async (target: string, input: Record<string, unknown> = {}) => {
    const { id } = await rig.client.start('redis-health', { target, initiator: 'alice', input });
    const run = await finished(rig.client, id);
    return { id, run, result: run.result as RunbookResult<RedisHealthFindings> };
  };

  it("reports the machine's Redis as INFO does, step by step as its procedure says", async () => {
    const { run, result } = await check('shared-redis');
    expect(run.status).toBe('completed');
    const r = new Redis('redis://127.0.0.1:6379/0');
    try {
      const memory = await r.info('memory');
      const server = await r.info('server');
      expect(result.findings.ping.version).toBe(/^redis_version:(.*)$/m.exec(server)![1]!.trim());
      expect(result.findings.memory.policy).toBe(/^maxmemory_policy:(.*)$/m.exec(memory)![1]!.trim());
      expect(result.findings.memory.maxBytes).toBe(Number(/^maxmemory:(\d+)/m.exec(memory)![1]));
    } finally {
      r.disconnect();
    }
    expect(result.healthy).toBe(result.findings.problems.length === 0);
    expect(result.summary[1]).toMatch(/^redis:\/\/127\.0\.0\.1:6379\/0: PING in [\d.]+ ms \(worst of 5: [\d.]+ ms\)/);
    expect(run.journal!.map((e) => e.step)).toEqual([
      'admit',
      ...procedure.steps.filter((p) => !p.onlyWith).map((p) => p.id),
    ]);
  });

  it('says a quiet Redis with memory to spare is healthy, and its password stays out of the history', async () => {
    const { id, result } = await check('own-redis');
    expect(result.findings.problems).toEqual([]);
    expect(result.healthy).toBe(true);
    expect(result.summary[0]).toBe(
      `Healthy: redis://127.0.0.1:${own.port}/0 answers, has memory to spare, evicts nothing and runs no slow commands.`,
    );
    expect(result.summary).toContain('No key evicted since Redis started.');
    expect(await historyText(rig.client, id)).not.toContain(own.password);
  });

  it('says a Redis with a client blocked past the limit is unhealthy', async () => {
    const key = uniqueName('rb:redis-health:blocked');
    const blocked = own.client();
    const waiting = blocked.blpop(key, 0).catch(() => undefined);
    const admin = own.client();
    try {
      await until(async () => /^blocked_clients:1/m.test(await admin.info('clients')), 'the BLPOP to block');
      const { result } = await check('own-redis', { maxBlockedClients: 0 });
      expect(result.healthy).toBe(false);
      expect(result.findings.clients.blocked).toBe(1);
      expect(result.findings.problems).toEqual(['blocked-clients']);
      expect(result.summary[0]).toBe('Unhealthy: blocked-clients.');
      expect(result.summary.join('\n')).toMatch(
        /Clients: \d+ connected, 1 blocked in BLPOP\/BRPOP\/XREAD, more than 0: find them with CLIENT LIST/,
      );
    } finally {
      await admin.lpush(key, 'done');
      await waiting;
      blocked.disconnect();
      admin.disconnect();
    }
  });

  it('says a Redis that ran a slow command is unhealthy, naming the command and never its arguments', async () => {
    const admin = own.client();
    const secret = `hunter2-${Math.random().toString(36).slice(2)}`;
    const before = (await admin.config('GET', 'slowlog-log-slower-than')) as string[];
    try {
      await admin.config('SET', 'slowlog-log-slower-than', '0'); // every command is logged, with its arguments
      await admin.slowlog('RESET');
      // A script that busies the server for 150 ms, carrying a secret-looking argument.
      await admin.eval(
        'local t = redis.call("TIME"); local e = t[1] * 1000000 + t[2] + 150000; repeat t = redis.call("TIME") until t[1] * 1000000 + t[2] >= e; return ARGV[1]',
        0,
        secret,
      );
    } finally {
      await admin.config('SET', 'slowlog-log-slower-than', before[1]!);
      admin.disconnect();
    }
    const { id, result } = await check('own-redis', { slowerThanMs: 50 });
    expect(result.healthy).toBe(false);
    expect(result.findings.problems).toEqual(['slow-commands']);
    expect(result.findings.slowlog.slowest[0]).toMatchObject({ command: 'eval' });
    expect(result.findings.slowlog.slowest[0]!.durationMs).toBeGreaterThanOrEqual(150);
    expect(result.summary.join('\n')).toMatch(
      /Slow log: 1 command\(s\) in the last 1h took longer than 50 ms; slowest: eval 1\d\d(\.\d+)? ms/,
    );
    expect(await historyText(rig.client, id)).not.toContain(secret);
    expect(await historyText(rig.client, id)).not.toContain('redis.call');
  });

  it('fails after its bounded retries, naming host and port, when Redis does not answer', async () => {
    const { run } = await check('nowhere-redis', { retry: { initialInterval: '100 ms', maximumAttempts: 2 } });
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(
      /^Step "redis-ping" failed: Cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0 \(target "nowhere-redis"\)/,
    );
  });
});
