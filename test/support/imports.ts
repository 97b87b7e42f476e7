import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';

const fixtureApp = path.resolve(import.meta.dirname, '../fixtures/gestiq-lite');
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;

/**
 * The fixture's imports pipeline for tests: a Redis DB number of its own (1–15, claimed in DB 0
 * so parallel test files never share one), and the Celery worker as a service of the command
 * driver — started in the background with its pid in a file, its log in a file. No vitest
 * imports: scripts/record-histories.ts uses it too.
 */

const REDIS = 'redis://127.0.0.1:6379';

export async function claimRedisDb(): Promise<{ db: number; url: string; redis: Redis; release: () => Promise<void> }> {
  const admin = new Redis(`${REDIS}/0`);
  try {
    for (let db = 1; db <= 15; db++) {
      if (await admin.set(`runbooks-test:redis-db:${db}`, String(process.pid), 'EX', 1800, 'NX')) {
        const redis = new Redis(`${REDIS}/${db}`);
        await redis.flushdb();
        return {
          db,
          url: `${REDIS}/${db}`,
          redis,
          release: async () => {
            await redis.flushdb();
            redis.disconnect();
            const a = new Redis(`${REDIS}/0`);
            await a.del(`runbooks-test:redis-db:${db}`);
            a.disconnect();
          },
        };
      }
    }
  } finally {
    admin.disconnect();
  }
  throw new Error('All 15 Redis test databases are claimed (keys runbooks-test:redis-db:* in DB 0).');
}

/** Shell-quotes one word. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface WorkerFiles {
  dir: string;
  pidFile: string;
  logFile: string;
  envFile: string;
}

/** The worker's environment, in the file its start command sources (a person "fixes" it by rewriting it). */
export function writeWorkerEnv(
  files: WorkerFiles,
  database: string,
  brokerUrl: string,
  opts: { enabled?: boolean; queue?: string } = {},
): void {
  writeFileSync(
    files.envFile,
    [
      `DATABASE_URL=${q(`postgresql://${PG.user}@${PG.host}:${PG.port}/${database}`)}`,
      `BROKER_URL=${q(brokerUrl)}`,
      `IMPORTS_ENABLED=${opts.enabled === false ? '0' : '1'}`,
      `IMPORTS_QUEUE=${q(opts.queue ?? 'imports')}`,
    ].join('\n') + '\n',
  );
}

/**
 * The `command` driver's commands for a fixture process run in the background from the fixture's
 * directory: its environment sourced from envFile, its pid in pidFile, its output in logFile.
 * Stop sends SIGTERM (Celery's warm shutdown, uvicorn's graceful one) and waits until it is gone.
 */
export function pidFileCommands(files: WorkerFiles, command: string) {
  const pid = q(files.pidFile);
  return {
    start: `cd ${q(fixtureApp)} && set -a && . ${q(files.envFile)} && set +a && nohup ${command} >> ${q(files.logFile)} 2>&1 & echo $! > ${pid}`,
    stop: `[ -f ${pid} ] || exit 0; p=$(cat ${pid}); kill $p 2>/dev/null || exit 0; while kill -0 $p 2>/dev/null; do sleep 0.1; done`,
    status: `[ -f ${pid} ] && kill -0 $(cat ${pid})`,
  };
}

/** The `command` driver's spec for the fixture's Celery imports worker on `database` and `brokerUrl` (writes its env file). */
export function celeryWorkerService(
  files: WorkerFiles,
  database: string,
  brokerUrl: string,
  opts: { enabled?: boolean; queue?: string } = {},
) {
  writeWorkerEnv(files, database, brokerUrl, opts);
  return {
    command: pidFileCommands(
      files,
      '/usr/bin/python3 -m celery -A gestiq_imports worker -Q "$IMPORTS_QUEUE" --pool solo --without-mingle --without-gossip --without-heartbeat',
    ),
    health: {
      logLine: 'app\\.startup: (imports worker ready|IMPORTS_ENABLED=)',
      logFile: files.logFile,
      timeout: '30s',
    },
  };
}

export function workerFiles(dir: string): WorkerFiles {
  return {
    dir,
    pidFile: path.join(dir, 'worker.pid'),
    logFile: path.join(dir, 'worker.log'),
    envFile: path.join(dir, 'worker.env'),
  };
}

/** Publishes process_item for each id through the app's own Celery app (as the app itself would). */
export async function publishItems(brokerUrl: string, ids: number[], queue = 'imports'): Promise<void> {
  await execa(
    '/usr/bin/python3',
    [
      '-c',
      `import sys, gestiq_imports as g\nfor i in sys.argv[1:]: g.process_item.apply_async(args=[int(i)])`,
      ...ids.map(String),
    ],
    {
      cwd: fixtureApp,
      env: { BROKER_URL: brokerUrl, IMPORTS_QUEUE: queue },
    },
  );
}

/** Kills a worker left running by a failed test (SIGKILL to the pid in its file). */
export async function killWorker(files: WorkerFiles): Promise<void> {
  await execa('sh', ['-c', `[ -f ${q(files.pidFile)} ] && kill -9 $(cat ${q(files.pidFile)}) 2>/dev/null; true`]);
}
