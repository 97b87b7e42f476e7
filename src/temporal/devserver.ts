import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { searchAttributeKeys } from '../contract/search-attributes.js';
import { privateDirSync } from '../util/private-fs.js';
import { canListen, portOwner } from '../util/ports.js';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(port: number, variable: string) {
    const owner = portOwner(port);
    // The program and its first arguments only: a command line can carry a secret further on.
    const who = owner
      ? `by pid ${owner.pid} (${owner.command.split(' ').slice(0, 3).join(' ')} …)`
      : 'by another process';
    super(
      `Port ${port} is already in use ${who}, so the Temporal dev server cannot start there. ${owner ? `Stop it (kill ${owner.pid}) if it is a dev server left running, ` : 'Stop it, '}or set ${variable} to a free port, or TEMPORAL_ADDRESS to use a server that is already running.`,
    );
  }
}

/** A `temporal server start-dev` process with our search attributes registered. */
export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface DevServerOptions {
  cli: string;
  /** Persistent state; runs in flight survive a restart with the same file. */
  dbFile?: string;
  port: number;
  uiPort?: number;
  /** No Web UI (tests). */
  headless?: boolean;
  /** Register our search attributes at start (default). Off only to test registering them later. */
  searchAttributes?: boolean;
  ip?: string;
  extraArgs?: string[];
  /** Where the server's own output goes; default: discarded except the last lines, shown on failure. */
  logFile?: NodeJS.WritableStream;
  readyTimeoutMs?: number;
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  // A dev server left running (or anything else) on our port would answer our readiness check:
  // we would attach to it silently while ours failed to bind. Refuse, naming what holds the port.
  for (const [port, variable] of [
    [opts.port, 'TEMPORAL_PORT'],
    ...(opts.headless || !opts.uiPort ? [] : [[opts.uiPort, 'TEMPORAL_UI_PORT']]),
  ] as Array<[number, string]>) {
    if (!(await canListen(port))) throw new PortInUseError(port, variable);
  }
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(opts.port), '--log-level', 'warn'];
  if (opts.dbFile) {
    // Every run's history is in it: 0700 directory, 0600 files (also those an older version made).
    privateDirSync(path.dirname(opts.dbFile));
    for (const f of [opts.dbFile, `${opts.dbFile}-wal`, `${opts.dbFile}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    args.push('--db-filename', opts.dbFile);
  }
  if (opts.headless) args.push('--headless');
  else if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  if (opts.searchAttributes !== false)
    for (const key of searchAttributeKeys) args.push('--search-attribute', `${key.name}=Keyword`);
  args.push(...(opts.extraArgs ?? []));

  // Own process group: Ctrl-C reaches us, and we stop the server only after the worker has drained.
  // Umask 077 while it is spawned: the database files SQLite creates are its owner's only.
  const umask = process.umask(0o077);
  let child: ChildProcess;
  try {
    child = spawn(opts.cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  } finally {
    process.umask(umask);
  }
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    opts.logFile?.write(chunk);
    tail.push(...chunk.toString().split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 30));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: number | null | undefined;
  // Detached, it would outlive us if we exit on an error: take it down with us.
  const killOnExit = () => child.kill('SIGTERM');
  process.on('exit', killOnExit);
  const gone = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exited = code;
      process.off('exit', killOnExit);
      resolve();
    }),
  );

  const address = `${ip}:${opts.port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) {
      throw new Error(`The Temporal dev server exited (code ${exited}) before it was ready:\n${tail.join('\n')}`);
    }
    if (await isReady(address)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `The Temporal dev server did not answer on ${address} within ${opts.readyTimeoutMs ?? 60_000} ms:\n${tail.join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    address,
    uiUrl: opts.headless
      ? undefined
      : `http://${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${opts.uiPort ?? opts.port + 1000}`,
    process: child,
    async stop(graceMs = 10_000) {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    },
  };
}

async function isReady(address: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 1000 });
    await connection.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
