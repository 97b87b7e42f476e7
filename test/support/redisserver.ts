import path from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { tmpDir } from './harness.js';
import { until } from './wait.js';

/**
 * A Redis of the test's own (a free port, a password, an append-only file fsynced on every write,
 * as a broker that must not lose queued messages is run), so a test can stop and restart it
 * without disturbing the machine's Redis and the other tests. With `persistence: false` it keeps
 * nothing on disk, as many brokers are run: a restart empties it.
 */
export interface TestRedis {
  port: number;
  password: string;
  /** redis://:<password>@127.0.0.1:<port>/0 */
  url: string;
  client: () => Redis;
  /** SHUTDOWN (the append-only file is flushed); resolves once the port no longer answers. */
  stop: () => Promise<void>;
  start: () => Promise<void>;
}

export async function startRedis(opts: { persistence?: boolean } = {}): Promise<TestRedis> {
  const dir = tmpDir('redis-');
  const port = await freePort();
  const password = `redis-${Math.random().toString(36).slice(2)}`;
  const url = `redis://:${password}@127.0.0.1:${port}/0`;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--requirepass',
    password,
    '--dir',
    dir,
    ...(opts.persistence === false ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always']),
    '--save',
    '',
    '--daemonize',
    'yes',
    '--pidfile',
    path.join(dir, 'redis.pid'),
    '--logfile',
    path.join(dir, 'redis.log'),
  ];
  const ping = async () => {
    const r = await execa('redis-cli', ['-p', String(port), '--no-auth-warning', '-a', password, 'ping'], {
      reject: false,
    });
    return r.stdout.trim() === 'PONG';
  };
  const start = async () => {
    await execa('redis-server', args);
    await until(ping, `the test's Redis on port ${port} to answer`, 30_000, 50);
  };
  await start();
  return {
    port,
    password,
    url,
    // It is stopped on purpose: its clients reconnect instead of reporting the refused connections.
    client: () => new Redis(url, { maxRetriesPerRequest: 1 }).on('error', () => undefined),
    stop: async () => {
      await execa('redis-cli', ['-p', String(port), '--no-auth-warning', '-a', password, 'shutdown'], {
        reject: false,
      });
      await until(async () => !(await ping()), `the test's Redis on port ${port} to stop`, 30_000, 50);
    },
    start,
  };
}
