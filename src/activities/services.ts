import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ownEntry, TargetsError, type ServiceSpec, type TargetRegistry } from '../targets.js';
import { parseDuration } from '../util/duration.js';
import { redact, trimOutput } from '../util/redact.js';
import { childEnv, DOCKER_VARS } from './child-env.js';
import { FailureType } from './errors.js';
import { stepLedger } from './step-ledger.js';

/**
 * The service restart adapter: one interface, three drivers chosen per service in the targets
 * file — a systemd unit, a docker compose service, or plain start/stop/status commands. Start and
 * restart wait until the service proves it is healthy (its status, a log line written after the
 * action, an HTTP check) within a deadline; stop waits until it is down. Every command is bounded
 * and killed with its whole process group when it overruns. Runs on the service's host (the
 * target's task queue).
 */

/** `recreate`: compose's `up -d --force-recreate` (a new container from the file as it is now); a restart for the other drivers. */
export type ServiceAction = 'start' | 'stop' | 'restart' | 'recreate';
export type Driver = 'systemd' | 'compose' | 'command';

/** One command as the evidence shows it; the command driver's text stays in the targets file (it may hold secrets). */
export interface CommandRun {
  command: string;
  exitCode: number | null;
  ms: number;
  output: string;
}

export interface HealthCheck {
  check: 'running' | 'stopped' | 'logLine' | 'http';
  ok: boolean;
  detail: string;
}

export interface ServiceEvidence {
  target: string;
  service: string;
  driver: Driver;
  action: ServiceAction;
  commands: CommandRun[];
  /** Commands an earlier attempt ran before its worker died; this attempt did not run them again. */
  notRepeated?: string[];
  /** Commands not run because they had nothing to do: a stop of a service already down (command driver). */
  skipped?: string[];
  /** Every check declared for the service passed within the deadline; false when none could be declared. */
  verified: boolean;
  checks: HealthCheck[];
  waitedMs: number;
}

export interface ServiceStatus {
  target: string;
  service: string;
  driver: Driver;
  /** null when the service declares no way to ask (a command driver without `status`). */
  running: boolean | null;
  detail: string;
}

/** An argv to run, and how the evidence names it. */
export interface Planned {
  argv: string[];
  shown: string;
}

export function driverOf(spec: ServiceSpec): Driver {
  return 'systemd' in spec ? 'systemd' : 'compose' in spec ? 'compose' : 'command';
}

/**
 * The commands an action runs, in order. Compose's `start` only starts a container that exists,
 * so starting uses `up -d --no-deps`. The command driver restarts as stop then start.
 */
export function actionCommands(
  spec: ServiceSpec,
  action: ServiceAction,
  compose: string[] = ['docker', 'compose'],
): Planned[] {
  if ('systemd' in spec) {
    const argv = ['systemctl', action === 'recreate' ? 'restart' : action, spec.systemd];
    return [{ argv, shown: argv.join(' ') }];
  }
  if ('compose' in spec) {
    const base = [...compose, '-f', spec.compose.file];
    const verb =
      action === 'start'
        ? ['up', '-d', '--no-deps']
        : action === 'recreate'
          ? ['up', '-d', '--no-deps', '--force-recreate']
          : [action];
    const argv = [...base, ...verb, spec.compose.service];
    return [{ argv, shown: argv.join(' ') }];
  }
  const shell = (key: 'start' | 'stop') => ({
    argv: ['sh', '-c', spec.command[key]],
    shown: `sh -c <command.${key} from the targets file>`,
  });
  return action === 'restart' || action === 'recreate' ? [shell('stop'), shell('start')] : [shell(action)];
}

/** How to ask whether the service runs: exit 0 = running, or (compose) the service listed as running. */
export function statusCommand(
  spec: ServiceSpec,
  compose: string[] = ['docker', 'compose'],
): (Planned & { listed?: string }) | undefined {
  if ('systemd' in spec) {
    const argv = ['systemctl', 'is-active', spec.systemd];
    return { argv, shown: argv.join(' ') };
  }
  if ('compose' in spec) {
    const argv = [...compose, '-f', spec.compose.file, 'ps', '--services', '--filter', 'status=running'];
    return { argv, shown: argv.join(' '), listed: spec.compose.service };
  }
  return spec.command.status === undefined
    ? undefined
    : { argv: ['sh', '-c', spec.command.status], shown: 'sh -c <command.status from the targets file>' };
}

/** Where log lines written after `since` can be read, per driver. */
export function logCommand(
  spec: ServiceSpec,
  sinceEpochS: number,
  compose: string[] = ['docker', 'compose'],
): Planned | undefined {
  if ('systemd' in spec) {
    const argv = ['journalctl', '-u', spec.systemd, '--since', `@${sinceEpochS}`, '-o', 'cat', '--no-pager'];
    return { argv, shown: argv.join(' ') };
  }
  if ('compose' in spec) {
    // docker compose v2 filters by time; Debian's docker-compose v1 has no --since, so the newest lines only.
    const window =
      compose[0] === 'docker-compose' ? ['--tail', '200'] : ['--since', new Date(sinceEpochS * 1000).toISOString()];
    const argv = [...compose, '-f', spec.compose.file, 'logs', '--no-color', ...window, spec.compose.service];
    return { argv, shown: argv.join(' ') };
  }
  return undefined;
}

export interface Bounded {
  exitCode: number | null;
  output: string;
  ms: number;
  timedOut: boolean;
  missing: boolean;
}

/**
 * Runs argv in its own process group with a deadline. Resolves when the process exits, not when
 * its output closes: a start command that leaves a daemon holding its stdout must not hang us.
 * On timeout or cancellation the whole group is killed. `env` is the child's whole environment (see childEnv).
 */
export function runBounded(
  argv: string[],
  timeoutMs: number,
  signal?: AbortSignal,
  env: Record<string, string> = childEnv(),
): Promise<Bounded> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
    let output = '';
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-16_384);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    signal?.addEventListener('abort', killGroup, { once: true });
    /** After a kill, the group's last members may still be dying: wait (bounded) until none is left. */
    const groupGone = async () => {
      for (let i = 0; i < 50 && child.pid; i++) {
        try {
          process.kill(-child.pid, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const done = (exitCode: number | null, missing = false) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', killGroup);
      setImmediate(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        void (timedOut ? groupGone() : Promise.resolve()).then(() =>
          resolve({ exitCode, output, ms: Math.round(performance.now() - t0), timedOut, missing }),
        );
      });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      output = err.message;
      done(null, err.code === 'ENOENT');
    });
    child.on('exit', (code) => done(code));
  });
}

function toolMissing(tool: string, target: string, service: string, driver: Driver): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `${tool} is not installed on this worker's host, and service "${service}" of target "${target}" uses the ${driver} driver. ` +
      `Run this step on a worker on the service's host (set the target's taskQueue) or declare the driver that host has.`,
    FailureType.commandMissing,
  );
}

let composeToolP: Promise<string[]> | undefined;
/** `docker compose` (v2 plugin) when the docker client has it, else Debian's `docker-compose` (v1). */
export function composeTool(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  return (composeToolP ??= runBounded(
    ['docker', 'compose', 'version'],
    10_000,
    undefined,
    childEnv({}, { pass: DOCKER_VARS, env }),
  ).then((r) => (r.exitCode === 0 ? ['docker', 'compose'] : ['docker-compose'])));
}

/** What a log file gained since byte `offset` (its last MiB at most). */
export async function logSince(file: string, offset: number): Promise<string> {
  const size = (await stat(file).catch(() => ({ size: 0 }))).size;
  if (size <= offset) return '';
  const fh = await open(file, 'r');
  try {
    const length = Math.min(size - offset, 1 << 20);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** A file's size now: the offset later reads start from. */
/**
 * A command the targets file gives (redeploy, remediation), run on this host: `sh -c`, bounded,
 * cancelled with the activity, its output trimmed and masked with the target's secrets. It gets
 * the base environment and the target's passEnv (childEnv). The command text never leaves the worker.
 */
export async function runTargetCommand(
  targets: TargetRegistry,
  target: string,
  command: string,
  timeout: string,
  env: NodeJS.ProcessEnv = process.env,
) {
  let signal: AbortSignal | undefined;
  try {
    signal = Context.current().cancellationSignal;
  } catch {
    /* outside an activity */
  }
  const r = await runBounded(
    ['sh', '-c', command],
    parseDuration(timeout),
    signal,
    childEnv({}, { pass: targets.passEnv(target), env }),
  );
  return { ...r, output: trimOutput(redact(r.output, targets.secretValues(target)), 15, 1500) };
}

export const logOffset = async (file: string) => (await stat(file).catch(() => ({ size: 0 }))).size;

/** What a service action had done when its attempt ended: its plan, how many of its commands ran, where its health checks start reading. */
export interface ActionProgress {
  action: ServiceAction;
  plan: string[];
  done: number;
  sinceS: number;
  since: number;
}

/**
 * How a retry goes on from an earlier attempt's record: skip the commands it ran, or refuse when
 * the step now plans other commands (the targets file changed in between), as skipping by count
 * would then skip the wrong ones.
 */
export function resumeFrom(
  prior: ActionProgress | undefined,
  action: ServiceAction,
  plan: string[],
): { skip: number } | { refuse: string } {
  if (!prior) return { skip: 0 };
  if (prior.action !== action || JSON.stringify(prior.plan) !== JSON.stringify(plan)) {
    return {
      refuse: `an earlier attempt ran ${prior.done} of [${prior.plan.join('; ')}] for ${prior.action}, and the step now plans [${plan.join('; ')}] for ${action}`,
    };
  }
  return { skip: Math.min(prior.done, plan.length) };
}

/** `ledgerDir`: where host-local step ledgers go (the worker's data dir), so a retry never repeats a restart. */
export function createServiceActivities(
  targets: TargetRegistry,
  env: NodeJS.ProcessEnv = process.env,
  opts: { ledgerDir?: string } = {},
) {
  const compose = () => composeTool(env);

  function lookup(target: string, service: string): ServiceSpec {
    let spec;
    try {
      spec = ownEntry(targets.spec(target).services, service);
    } catch (err) {
      if (err instanceof TargetsError) throw ApplicationFailure.nonRetryable(err.message, FailureType.targetConfig);
      throw err;
    }
    if (!spec) {
      const known = Object.keys(targets.spec(target).services ?? {});
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no service "${service}" in ${targets.file} (declared: ${known.join(', ') || 'none'}). Add it under services, with one driver: systemd, compose or command.`,
        FailureType.targetConfig,
      );
    }
    return spec;
  }

  const secrets = (target: string) => {
    try {
      return [targets.postgres(target).password];
    } catch {
      return [];
    }
  };

  /** systemctl needs the base only; compose its engine's settings; a user's command the target's passEnv. */
  function serviceEnv(target: string, spec: ServiceSpec): Record<string, string> {
    const pass = 'compose' in spec ? DOCKER_VARS : 'command' in spec ? targets.passEnv(target) : [];
    return childEnv({}, { pass, env });
  }

  async function run(target: string, service: string, spec: ServiceSpec, planned: Planned): Promise<Bounded> {
    let signal: AbortSignal | undefined;
    try {
      signal = Context.current().cancellationSignal;
    } catch {
      /* called outside an activity (tests, bench) */
    }
    const r = await runBounded(
      planned.argv,
      parseDuration(spec.commandTimeout ?? '60s'),
      signal,
      serviceEnv(target, spec),
    );
    if (r.missing) throw toolMissing(planned.argv[0]!, target, service, driverOf(spec));
    return { ...r, output: trimOutput(redact(r.output, secrets(target)), 15, 1500) };
  }

  async function status(target: string, service: string, spec: ServiceSpec): Promise<ServiceStatus> {
    const driver = driverOf(spec);
    const planned = statusCommand(spec, driver === 'compose' ? await compose() : undefined);
    if (!planned)
      return { target, service, driver, running: null, detail: 'no status command declared (command.status)' };
    const r = await run(target, service, spec, planned);
    if (r.timedOut)
      return {
        target,
        service,
        driver,
        running: null,
        detail: `${planned.shown} did not answer within ${spec.commandTimeout ?? '60s'}`,
      };
    if (planned.listed !== undefined) {
      if (r.exitCode !== 0)
        return { target, service, driver, running: null, detail: `${planned.shown} exited ${r.exitCode}: ${r.output}` };
      const running = r.output
        .split('\n')
        .map((l) => l.trim())
        .includes(planned.listed);
      return {
        target,
        service,
        driver,
        running,
        detail: `${planned.shown}: ${running ? 'listed as running' : 'not listed as running'}`,
      };
    }
    // systemctl is-active: 0 active, 3 inactive/failed; 1 with "not been booted with systemd" = cannot tell.
    if (driver === 'systemd' && r.exitCode !== 0 && r.exitCode !== 3)
      return { target, service, driver, running: null, detail: `${planned.shown} exited ${r.exitCode}: ${r.output}` };
    return {
      target,
      service,
      driver,
      running: r.exitCode === 0,
      detail: `${planned.shown} exited ${r.exitCode}${r.output ? `: ${r.output.split('\n').at(-1)}` : ''}`,
    };
  }

  return {
    async serviceStatus(target: string, service: string): Promise<ServiceStatus> {
      return status(target, service, lookup(target, service));
    },

    /**
     * Starts, stops or restarts a service and waits until it proves the outcome: for start and
     * restart, running plus every health check declared; for stop, not running. Fails, saying what
     * did not happen, when a command fails or overruns, or when the deadline passes.
     */
    async serviceAction(target: string, service: string, action: ServiceAction): Promise<ServiceEvidence> {
      const spec = lookup(target, service);
      const driver = driverOf(spec);
      const tool = driver === 'compose' ? await compose() : undefined;
      const health = spec.health ?? {};
      // A retry after a crash resumes: commands already run are not run again (a second restart
      // is a second outage), and the health checks read the logs from the first attempt's start.
      const plan = actionCommands(spec, action, tool);
      const shown = plan.map((p) => p.shown);
      const ledger = stepLedger<ActionProgress>(opts.ledgerDir);
      const unusable = (what: string, err: unknown, ran: boolean) =>
        ApplicationFailure.nonRetryable(
          `${action} of service "${service}" (target "${target}"): cannot ${what} its step ledger in ${opts.ledgerDir} (${(err as Error).message}), so a retry could not tell what already ran. ` +
            (ran
              ? 'A command did run: check the service by hand before starting the step again.'
              : "Nothing was run. Fix the directory (the worker's RUNBOOK_DATA_DIR), then retry."),
          FailureType.stepLedger,
        );
      const prior = await ledger?.read().catch((err: unknown) => {
        throw unusable('read', err, true);
      });
      const resume = resumeFrom(prior, action, shown);
      if ('refuse' in resume) {
        throw ApplicationFailure.nonRetryable(
          `${action} of service "${service}" (target "${target}") cannot resume safely: ${resume.refuse}. Check the service by hand, then start the step again.`,
          FailureType.stepLedger,
        );
      }
      const sinceS = prior?.sinceS ?? Math.floor(Date.now() / 1000);
      const since = prior?.since ?? (health.logFile ? await logOffset(health.logFile) : 0);
      const record = (done: number) =>
        ledger?.write({ action, plan: shown, done, sinceS, since }).catch((err: unknown) => {
          throw unusable('write', err, done > 0);
        });
      if (!prior) await record(0); // proves the ledger writable before anything irreversible runs
      const t0 = Date.now();

      const commands: CommandRun[] = [];
      const notRepeated = shown.slice(0, resume.skip);
      // A stop command written for a running service (kill the pid in its pid file) fails on one
      // that is already down, and every retry would fail the same way: ask first, and skip it.
      const skipped: string[] = [];
      const stopsFirst = driver === 'command' && action !== 'start' && resume.skip === 0;
      const down = stopsFirst ? await status(target, service, spec) : undefined;
      for (const [i, planned] of plan.entries()) {
        if (i < resume.skip) continue;
        if (i === 0 && down?.running === false) {
          skipped.push(`${planned.shown}: the service was already down (${down.detail})`);
          await record(i + 1);
          continue;
        }
        const r = await run(target, service, spec, planned);
        commands.push({ command: planned.shown, exitCode: r.exitCode, ms: r.ms, output: r.output });
        if (r.timedOut) {
          throw ApplicationFailure.nonRetryable(
            `${action} of service "${service}" (target "${target}"): ${planned.shown} did not return within ${spec.commandTimeout ?? '60s'} and was killed. ` +
              `A start command must start the service in the background and return; check the service by hand before retrying.${r.output ? `\nOutput:\n${r.output}` : ''}`,
            FailureType.serviceTimedOut,
            { commands },
          );
        }
        if (r.exitCode !== 0) {
          throw ApplicationFailure.nonRetryable(
            `${action} of service "${service}" (target "${target}"): ${planned.shown} exited with ${r.exitCode}.${r.output ? `\nOutput:\n${r.output}` : ''}`,
            FailureType.serviceCommand,
            { commands },
          );
        }
        await record(i + 1);
      }

      const deadlineMs = parseDuration(health.timeout ?? '60s');
      const logs = health.logLine ? new RegExp(health.logLine) : undefined;
      const logSource = health.logFile ? undefined : logCommand(spec, sinceS, tool);
      let checks: HealthCheck[] = [];
      for (;;) {
        checks = [];
        const st = await status(target, service, spec);
        if (action === 'stop') {
          if (st.running !== null) checks.push({ check: 'stopped', ok: !st.running, detail: st.detail });
        } else {
          if (st.running !== null) checks.push({ check: 'running', ok: st.running, detail: st.detail });
          if (logs) {
            const text = health.logFile
              ? await logSince(health.logFile, since)
              : logSource
                ? (await run(target, service, spec, logSource)).output
                : '';
            const line = text.split('\n').find((l) => logs.test(l));
            checks.push({
              check: 'logLine',
              ok: line !== undefined,
              detail:
                line !== undefined
                  ? line.trim()
                  : `no line matching /${health.logLine}/ since the ${action} in ${health.logFile ?? logSource?.shown ?? 'its logs'}`,
            });
          }
          if (health.http) {
            const got = await fetch(health.http, { signal: AbortSignal.timeout(5_000) }).then(
              (res) => res.status,
              (err: unknown) => `error: ${(err as Error).message}`,
            );
            checks.push({
              check: 'http',
              ok: typeof got === 'number' && got >= 200 && got < 300,
              detail: `GET ${health.http} → ${got}`,
            });
          }
        }
        const waitedMs = Date.now() - t0;
        if (checks.every((c) => c.ok))
          return {
            target,
            service,
            driver,
            action,
            commands,
            ...(notRepeated.length ? { notRepeated } : {}),
            ...(skipped.length ? { skipped } : {}),
            verified: checks.length > 0,
            checks,
            waitedMs,
          };
        if (waitedMs > deadlineMs) {
          const failing = checks
            .filter((c) => !c.ok)
            .map((c) => `${c.check}: ${c.detail}`)
            .join('; ');
          throw ApplicationFailure.nonRetryable(
            `Service "${service}" (target "${target}") is not ${action === 'stop' ? 'down' : 'healthy'} ${Math.round(waitedMs / 1000)}s after ${action}: ${failing}. ` +
              `Check it by hand (${driver} driver); raise health.timeout in ${targets.file} if it is only slow.`,
            FailureType.serviceUnhealthy,
            { commands, checks },
          );
        }
        try {
          Context.current().heartbeat({ action, service, waitingFor: checks.filter((c) => !c.ok).map((c) => c.check) });
        } catch {
          /* outside an activity */
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    },
  };
}
