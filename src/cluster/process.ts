import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { privateFileSync } from '../util/private-fs.js';

/**
 * A server process of the cluster: its own process group (Ctrl-C reaches us first, and we stop it
 * after the clients have drained), its output appended straight to a log file (it keeps logging
 * if we die), a pid file, and SIGTERM on our exit so it does not outlive us.
 */

export interface ServerProcess {
  pid: number;
  logFile: string;
  /** The exit code once it has exited (null when a signal ended it), else undefined. */
  exitCode(): number | null | undefined;
  exited: Promise<void>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the group, as a crash would; resolves when it is gone. */
  kill(): Promise<void>;
  /** The last lines of its log, for an error message. */
  tail(lines?: number): string;
}

export interface SpawnOptions {
  cwd: string;
  logFile: string;
  pidFile: string;
  what: string;
}

export function spawnServer(binary: string, args: string[], opts: SpawnOptions): ServerProcess {
  refuseIfRunning(opts.pidFile, opts.what, binary);
  privateFileSync(opts.logFile);
  const fd = openSync(opts.logFile, 'a');
  // Umask 077 while it is spawned: whatever the server creates is its owner's only.
  const umask = process.umask(0o077);
  let child;
  try {
    child = spawn(binary, args, { cwd: opts.cwd, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    process.umask(umask);
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined)
    throw new Error(`${opts.what} could not be started (${binary}): is the binary there and executable?`);
  writeFileSync(opts.pidFile, `${pid}\n`, { mode: 0o600 });
  let code: number | null | undefined;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      /* already gone */
    }
  };
  const onOurExit = () => signalGroup('SIGTERM');
  process.on('exit', onOurExit);
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (c) => {
      code = c;
      process.off('exit', onOurExit);
      rmSync(opts.pidFile, { force: true });
      resolve();
    }),
  );
  return {
    pid,
    logFile: opts.logFile,
    exitCode: () => code,
    exited,
    async stop(graceMs = 20_000) {
      if (code !== undefined) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (code !== undefined) return;
      signalGroup('SIGKILL');
      await exited;
    },
    tail: (lines = 15) =>
      readFileSync(opts.logFile, 'utf8').split('\n').filter(Boolean).slice(-lines).map(brief).join('\n'),
  };
}

/** A JSON log line (Temporal's) as `level: msg (error)`, without its stack trace; other lines as they are. */
function brief(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: string; msg?: string; error?: string };
    if (entry.msg !== undefined) return `${entry.level ?? ''}: ${entry.msg}${entry.error ? ` (${entry.error})` : ''}`;
  } catch {
    /* not JSON */
  }
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/** Two servers on one set of databases and ports would fight: say so instead of starting a second. */
function refuseIfRunning(pidFile: string, what: string, binary: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (pid > 0 && runs(pid, binary)) {
    throw new Error(
      `${what} from an earlier start is still running (pid ${pid}, ${pidFile}): stop it with \`kill ${pid}\`, then start again.`,
    );
  }
  rmSync(pidFile, { force: true });
}

/** Alive and still that binary (a pid is reused once its process is gone). */
function runs(pid: number, binary: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === binary;
  } catch {
    return false;
  }
}
