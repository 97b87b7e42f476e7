import { existsSync } from 'node:fs';
import { chmod, copyFile, cp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { TargetsError, type TargetRegistry } from '../targets.js';
import { privateTree } from '../util/private-fs.js';
import { redact, trimOutput } from '../util/redact.js';
import { childEnv } from './child-env.js';
import { FailureType, targetFailure } from './errors.js';
import { runDir } from './run-files.js';
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
export function sqlalchemyUrl(
  c: { host: string; port: number; user: string; password?: string },
  database: string,
): string {
  const auth =
    c.password === undefined
      ? encodeURIComponent(c.user)
      : `${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}`;
  return `postgresql+psycopg2://${auth}@${c.host}:${c.port}/${encodeURIComponent(database)}`;
}

/** Runs `python -m alembic -c <config> <args>` in the target's alembic dir, against `database`. */
export interface AlembicRunOptions {
  database?: string;
  timeoutMs?: number;
  /** A copy of the app's tree to run in instead of alembic.dir (schema-drift's scratch copy). */
  appDir?: string;
  /** Run this Python script with (alembic.ini, ...args) instead of `-m alembic -c alembic.ini ...args`. */
  script?: string;
}

export async function runAlembic(
  targets: TargetRegistry,
  target: string,
  args: string[],
  opts: AlembicRunOptions = {},
): Promise<AlembicRun> {
  let spec, conn;
  try {
    spec = targets.spec(target).alembic;
    if (!spec)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no alembic section in ${targets.file}; add alembic.dir (where alembic.ini lives).`,
        FailureType.targetConfig,
      );
    conn = targets.spec(target).postgres ? targets.postgres(target) : undefined;
  } catch (err) {
    return targetFailure(err);
  }
  const appDir = opts.appDir ?? spec.dir;
  const configFile = path.resolve(appDir, spec.config);
  if (!existsSync(configFile)) {
    throw ApplicationFailure.nonRetryable(
      `Target "${target}": ${configFile} does not exist. Check alembic.dir and alembic.config in ${targets.file} (this step runs on the worker of task queue "${targets.spec(target).taskQueue ?? 'main'}").`,
      FailureType.targetConfig,
    );
  }
  // PGOPTIONS: alembic's session stays writable while the database is frozen read-only.
  const env = childEnv(
    {
      PYTHONDONTWRITEBYTECODE: '1',
      PGOPTIONS: OWN_SESSION_OPTIONS,
      [spec.urlEnv]: conn && sqlalchemyUrl(conn, opts.database ?? conn.database),
    },
    { pass: targets.passEnv(target) },
  );
  const secrets = [conn?.password];
  try {
    const argv = opts.script ? [opts.script, configFile, ...args] : ['-m', 'alembic', '-c', configFile, ...args];
    const r = await execa(spec.python, argv, {
      cwd: appDir,
      env,
      extendEnv: false,
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

export interface DriftReport {
  /** The operations that would bring the database to the models (rendered Python), '' when none. */
  ops: string;
  /** Drops autogenerate proposed; never generated (tables outside the models are not ours to drop). */
  refused: string[];
  revId: string;
  /** generate: the new revision file in the scratch copy, its content, and the artifact saved for the engineer. */
  file?: string;
  content?: string;
  artifact?: string;
}

const DRIFT_SCRIPT = fileURLToPath(new URL('./python/drift.py', import.meta.url));

export function createAlembicActivities(targets: TargetRegistry, dataDir = '.data') {
  const runId = () => Context.current().info.workflowExecution?.workflowId ?? 'outside-a-run';
  return {
    /**
     * A scratch copy of the app's tree for this run (autogenerate writes a revision file; the
     * app's own tree is never touched). A retry finds it made.
     */
    async alembicWorkCopy(target: string): Promise<{ appDir: string }> {
      const spec = targets.spec(target).alembic;
      if (!spec)
        return targetFailure(new TargetsError(`Target "${target}" has no alembic section in ${targets.file}.`));
      const appDir = path.join(await runDir(dataDir, 'work', runId(), target), 'app');
      if (!existsSync(path.join(appDir, spec.config))) {
        await rm(appDir, { recursive: true, force: true });
        await cp(spec.dir, appDir, {
          recursive: true,
          filter: (src) => !src.includes('__pycache__') && !src.includes(`${path.sep}.git`),
        });
        await privateTree(appDir); // the app's .env comes along: its owner's only
      }
      return { appDir };
    },

    /** Alembic autogenerate against the models, in the scratch copy: detect (no file) or generate (a file, saved as an artifact). */
    async alembicDrift(
      target: string,
      req: { appDir: string; mode: 'detect' | 'generate'; revId: string; message: string; database?: string },
    ): Promise<DriftReport> {
      const r = await runAlembic(targets, target, [req.mode, req.revId, req.message], {
        database: req.database,
        appDir: req.appDir,
        script: DRIFT_SCRIPT,
        timeoutMs: 5 * 60_000,
      });
      const line = r.stdout
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('DRIFT_JSON '));
      if (r.exitCode !== 0 || !line) {
        throw ApplicationFailure.nonRetryable(
          `alembic autogenerate failed on target "${target}" (exit ${r.exitCode}); does env.py set target_metadata to the app's models?\n${trimOutput(r.stderr || r.stdout)}`,
          FailureType.command,
        );
      }
      const out = JSON.parse(line.slice('DRIFT_JSON '.length)) as {
        ops: string;
        refused: string[];
        file: string | null;
      };
      const report: DriftReport = { ops: out.ops, refused: out.refused, revId: req.revId };
      if (out.file) {
        if (!path.resolve(out.file).startsWith(path.resolve(req.appDir) + path.sep)) {
          await rm(out.file, { force: true });
          throw ApplicationFailure.nonRetryable(
            `alembic wrote the revision outside the scratch copy (${out.file}): the app's alembic.ini names an absolute script_location. Use %(here)s in it. The file was removed.`,
            FailureType.targetConfig,
          );
        }
        const artifacts = await runDir(dataDir, 'artifacts', runId(), target);
        const artifact = path.join(artifacts, path.basename(out.file));
        await copyFile(out.file, artifact);
        await chmod(artifact, 0o600);
        Object.assign(report, { file: out.file, content: await readFile(out.file, 'utf8'), artifact });
      }
      return report;
    },

    /**
     * `alembic upgrade|downgrade <revision>` on the target's database or one of our copies. A
     * failing migration is an outcome, not an error: the runbook decides what follows (restore,
     * rollback). Safe to retry: alembic moves only from the revision the database is at.
     */
    async alembicMigrate(
      target: string,
      req: { direction: 'upgrade' | 'downgrade'; revision: string; database?: string; appDir?: string },
    ): Promise<AlembicMigration> {
      const database = req.database ?? targets.postgres(target).database;
      const started = Date.now();
      const r = await runAlembic(targets, target, [req.direction, req.revision], {
        database,
        timeoutMs: 30 * 60_000,
        appDir: req.appDir,
      });
      return {
        direction: req.direction,
        revision: req.revision,
        database,
        ok: r.exitCode === 0,
        exitCode: r.exitCode,
        output: trimOutput(r.stderr || r.stdout, 12, 1500),
        durationMs: Date.now() - started,
      };
    },

    async alembicHeads(target: string): Promise<AlembicHeads> {
      const heads = await runAlembic(targets, target, ['heads']);
      checkExit(target, 'heads', heads);
      const history = await runAlembic(targets, target, ['history']);
      checkExit(target, 'history', history);
      return {
        heads: parseRevisions(heads.stdout),
        known: parseHistory(history.stdout),
        dir: targets.spec(target).alembic!.dir,
      };
    },
  };
}
