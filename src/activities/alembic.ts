import { existsSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { TargetRegistry } from '../targets.js';
import { redact, trimOutput } from '../util/redact.js';
import { FailureType, targetFailure } from './errors.js';
import { OWN_SESSION_OPTIONS } from './postgres.js';

/** Alembic on the app's host: the target's alembic directory, Debian's python3 -m alembic. */

export interface AlembicRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface AlembicHeads {
  heads: string[];
  /** Every revision the code knows (`alembic history`), newest first. */
  known: string[];
  dir: string;
}

/** The SQLAlchemy URL the app's env.py reads from `urlEnv`; it carries the password, so only in env. */
export function sqlalchemyUrl(c: { host: string; port: number; user: string; password?: string }, database: string): string {
  const auth = c.password === undefined ? encodeURIComponent(c.user) : `${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}`;
  return `postgresql+psycopg2://${auth}@${c.host}:${c.port}/${encodeURIComponent(database)}`;
}

/** Runs `python -m alembic -c <config> <args>` in the target's alembic dir, against `database`. */
export async function runAlembic(targets: TargetRegistry, target: string, args: string[], opts: { database?: string; timeoutMs?: number } = {}): Promise<AlembicRun> {
  let spec, conn;
  try {
    spec = targets.spec(target).alembic;
    if (!spec) throw ApplicationFailure.nonRetryable(`Target "${target}" has no alembic section in ${targets.file}; add alembic.dir (where alembic.ini lives).`, FailureType.targetConfig);
    conn = targets.spec(target).postgres ? targets.postgres(target) : undefined;
  } catch (err) {
    return targetFailure(err);
  }
  const configFile = path.resolve(spec.dir, spec.config);
  if (!existsSync(configFile)) {
    throw ApplicationFailure.nonRetryable(
      `Target "${target}": ${configFile} does not exist. Check alembic.dir and alembic.config in ${targets.file} (this step runs on the worker of task queue "${targets.spec(target).taskQueue ?? 'main'}").`,
      FailureType.targetConfig,
    );
  }
  // PGOPTIONS: alembic's session stays writable while the database is frozen read-only.
  const env: Record<string, string> = { PYTHONDONTWRITEBYTECODE: '1', PGOPTIONS: OWN_SESSION_OPTIONS };
  if (conn) env[spec.urlEnv] = sqlalchemyUrl(conn, opts.database ?? conn.database);
  const secrets = [conn?.password];
  try {
    const r = await execa(spec.python, ['-m', 'alembic', '-c', configFile, ...args], {
      cwd: spec.dir,
      env,
      reject: false,
      timeout: opts.timeoutMs ?? 120_000,
      stdin: 'ignore',
    });
    if (r.failed && r.exitCode === undefined) {
      const missing = (r as { code?: string }).code === 'ENOENT';
      throw ApplicationFailure.nonRetryable(
        missing
          ? `Target "${target}": the Python interpreter ${spec.python} does not exist on this worker. Install it (Debian: apt-get install python3-alembic) or set alembic.python in ${targets.file}.`
          : `alembic ${args.join(' ')} on target "${target}" did not finish: ${redact(r.shortMessage ?? '', secrets)}`,
        missing ? FailureType.commandMissing : FailureType.command,
      );
    }
    return { exitCode: r.exitCode ?? -1, stdout: redact(r.stdout, secrets), stderr: redact(r.stderr, secrets) };
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    throw ApplicationFailure.nonRetryable(redact(String(err), secrets), FailureType.command);
  }
}

/** Parses `alembic heads` / `alembic current` output: the revision ids on lines like `abc123 (head)`. */
export function parseRevisions(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => /^([0-9A-Za-z_]+)(?:\s+\(.*\))?\s*$/.exec(l.trim())?.[1])
    .filter((r): r is string => r !== undefined);
}

/** Parses `alembic history` lines such as `a1 -> b2 (head), add invoices`: the revisions in order. */
export function parseHistory(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => /->\s+([0-9A-Za-z_]+)/.exec(l)?.[1])
    .filter((r): r is string => r !== undefined);
}

function checkExit(target: string, command: string, r: AlembicRun): void {
  if (r.exitCode === 0) return;
  throw ApplicationFailure.nonRetryable(
    `alembic ${command} failed on target "${target}" (exit ${r.exitCode}):\n${trimOutput(r.stderr || r.stdout)}`,
    FailureType.command,
  );
}

export interface AlembicMigration {
  direction: 'upgrade' | 'downgrade';
  revision: string;
  database: string;
  ok: boolean;
  exitCode: number;
  /** The last lines alembic printed (redacted). */
  output: string;
  durationMs: number;
}

export function createAlembicActivities(targets: TargetRegistry) {
  return {
    /**
     * `alembic upgrade|downgrade <revision>` on the target's database or one of our copies. A
     * failing migration is an outcome, not an error: the runbook decides what follows (restore,
     * rollback). Safe to retry: alembic moves only from the revision the database is at.
     */
    async alembicMigrate(target: string, req: { direction: 'upgrade' | 'downgrade'; revision: string; database?: string }): Promise<AlembicMigration> {
      const database = req.database ?? targets.postgres(target).database;
      const started = Date.now();
      const r = await runAlembic(targets, target, [req.direction, req.revision], { database, timeoutMs: 30 * 60_000 });
      return { direction: req.direction, revision: req.revision, database, ok: r.exitCode === 0, exitCode: r.exitCode, output: trimOutput(r.stderr || r.stdout, 12, 1500), durationMs: Date.now() - started };
    },

    async alembicHeads(target: string): Promise<AlembicHeads> {
      const heads = await runAlembic(targets, target, ['heads']);
      checkExit(target, 'heads', heads);
      const history = await runAlembic(targets, target, ['history']);
      checkExit(target, 'history', history);
      return { heads: parseRevisions(heads.stdout), known: parseHistory(history.stdout), dir: targets.spec(target).alembic!.dir };
    },
  };
}
