import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/**
 * The cluster's own processes (workers, APIs): each in its own process group, so that Ctrl-C
 * reaches only us and we stop them in order (APIs, then workers, then Temporal), and a crash test
 * can SIGKILL exactly one. Output goes to a log file; the last lines are kept for error messages.
 */
export interface Service {
  name: string;
  child: ChildProcess;
  /** Resolves when the process has exited (with its code, or the signal that ended it). */
  exited: Promise<string>;
  /** SIGTERM, then SIGKILL after the grace period. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL now (crash tests). */
  kill(): Promise<void>;
  /** The last lines it printed. */
  tail(): string;
}

export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** A line the process prints once it is ready. */
  readyLine: RegExp;
  readyTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
// Whatever happens to us (an error, a second Ctrl-C), no child outlives us: they are in their own groups.
process.on('exit', () => {
  for (const child of running)
    if (child.pid)
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
});

/** SIGKILLs every process started here that is still running (a cluster whose start failed halfway). */
export async function killAllServices(): Promise<void> {
  const children = [...running];
  for (const child of children) signalGroup(child, 'SIGKILL');
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) =>
          child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
        ),
    ),
  );
}

export async function startService(spec: ServiceSpec): Promise<Service> {
  const log = createWriteStream(spec.logFile, { flags: 'a', mode: 0o600 });
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  const lines: string[] = [];
  let ready = false;
  let onReady: () => void = () => undefined;
  const readyNow = new Promise<void>((resolve) => (onReady = resolve));
  const keep = (chunk: Buffer) => {
    log.write(chunk);
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      lines.push(line);
      if (!ready && spec.readyLine.test(line)) {
        ready = true;
        onReady();
      }
    }
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<string>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child);
      log.end();
      resolve(signal ?? `exit code ${code}`);
    }),
  );
  const service: Service = {
    name: spec.name,
    child,
    exited,
    tail: () => lines.join('\n'),
    async stop(graceMs = 15_000) {
      if (!running.has(child)) return;
      signalGroup(child, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      signalGroup(child, 'SIGKILL');
      await exited;
    },
  };
  const timeoutMs = spec.readyTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    readyNow.then(() => 'ready'),
    exited.then((how) => `exited (${how})`),
    new Promise<string>(
      (resolve) => (timer = setTimeout(() => resolve(`not ready after ${timeoutMs / 1000} s`), timeoutMs)),
    ),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    await service.kill();
    throw new Error(`${spec.name} ${outcome}. Its last output (all of it in ${spec.logFile}):\n${service.tail()}`);
  }
  return service;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}
