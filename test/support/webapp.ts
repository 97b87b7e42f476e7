import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { pidFileCommands, q, type WorkerFiles } from './imports.js';

/**
 * The fixture's web app (gestiq_web.py under uvicorn) for tests: a service of the command driver,
 * started in the background with its pid in a file and its log (request ids included) in a file.
 * No vitest imports: scripts/record-histories.ts uses it too.
 */

export interface WebOptions {
  port: number;
  requiredFiles?: string[];
  appDir?: string;
  metricsOmit?: string[];
  databaseUrl?: string;
  version?: string;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
  /** More of the app's variables (LOGIN_PASSWORD, COOKIE_*, CORS_ORIGINS, RATE_LIMIT_* …). */
  env?: Record<string, string>;
}

export function webFiles(dir: string): WorkerFiles {
  return {
    dir,
    pidFile: path.join(dir, 'web.pid'),
    logFile: path.join(dir, 'web.log'),
    envFile: path.join(dir, 'web.env'),
  };
}

export function writeWebEnv(files: WorkerFiles, o: WebOptions): void {
  writeFileSync(
    files.envFile,
    [
      `PORT=${o.port}`,
      `APP_DIR=${q(o.appDir ?? '')}`,
      `REQUIRED_FILES=${q((o.requiredFiles ?? []).join(','))}`,
      `METRICS_OMIT=${q((o.metricsOmit ?? []).join(','))}`,
      `APP_VERSION=${q(o.version ?? '1.0.0')}`,
      ...(o.databaseUrl ? [`DATABASE_URL=${q(o.databaseUrl)}`] : []),
      ...(o.tls ? [`SSL_CERTFILE=${q(o.tls.cert)}`, `SSL_KEYFILE=${q(o.tls.key)}`] : []),
      ...Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${q(v)}`),
    ].join('\n') + '\n',
  );
}

/**
 * The `command` driver's spec for the web app on `o.port` (writes its env file); healthy = running,
 * its start-up line, and /ready 2xx over HTTP (over HTTPS the log line only: the health check trusts
 * no test CA).
 */
export function webAppService(files: WorkerFiles, o: WebOptions) {
  writeWebEnv(files, o);
  return {
    command: pidFileCommands(
      files,
      '/usr/bin/python3 -m uvicorn gestiq_web:app --host 127.0.0.1 --port "$PORT" --no-access-log ${SSL_CERTFILE:+--ssl-certfile "$SSL_CERTFILE" --ssl-keyfile "$SSL_KEYFILE"}',
    ),
    health: {
      ...(o.tls ? {} : { http: `http://127.0.0.1:${o.port}/ready` }),
      logLine: 'app\\.startup: gestiq web ready',
      logFile: files.logFile,
      timeout: '30s',
    },
  };
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

/**
 * Starts the app as its start command does and waits until uvicorn says it listens and the port
 * accepts. A port that answers is not enough: if something else held the port, uvicorn fails to
 * bind and exits while the other server answers; that is an error here, with the app's log.
 */
export async function startWeb(files: WorkerFiles, o: WebOptions): Promise<void> {
  const from = existsSync(files.logFile) ? readFileSync(files.logFile).length : 0; // a restart appends
  await execa('sh', ['-c', webAppService(files, o).command.start]);
  const pid = Number(readFileSync(files.pidFile, 'utf8').trim());
  const log = () => (existsSync(files.logFile) ? readFileSync(files.logFile).subarray(from).toString() : '');
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (!alive())
      throw new Error(
        `The fixture web app (pid ${pid}) exited before listening on port ${o.port}. Its log:\n${log().split('\n').slice(-20).join('\n')}`,
      );
    if (/Uvicorn running on/.test(log()) && (await accepts(o.port)) && alive()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `The fixture web app did not answer on port ${o.port} within 20 s. Its log:\n${log().split('\n').slice(-20).join('\n')}`,
  );
}

/** SIGKILL, as a crash (the pid file stays); returns once the process is gone. */
export async function killWeb(files: WorkerFiles): Promise<void> {
  await execa('sh', [
    '-c',
    `[ -f ${q(files.pidFile)} ] || exit 0; p=$(cat ${q(files.pidFile)}); kill -9 $p 2>/dev/null; while kill -0 $p 2>/dev/null; do sleep 0.05; done; true`,
  ]);
}
