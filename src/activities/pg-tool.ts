import { randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { PgConnection } from '../targets.js';
import { redact, trimOutput } from '../util/redact.js';
import { BackupRefused } from './backup-paths.js';
import { childEnv, LIBPQ_VARS } from './child-env.js';
import { FailureType } from './errors.js';
import { PSQL_REFUSED, PSQL_WITHOUT_RESTRICT, restrictedScript } from './plain-sql.js';
import { OWN_SESSION_OPTIONS } from './postgres.js';

/**
 * PostgreSQL's own client programs (pg_dump, pg_restore, psql) run on a target. The password
 * reaches them through PGPASSWORD only, never in a URL or an argument; their output is redacted
 * before it leaves the activity.
 */

function pgEnv(conn: PgConnection, database: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: conn.host,
    PGPORT: String(conn.port),
    PGUSER: conn.user,
    PGDATABASE: database,
    PGOPTIONS: OWN_SESSION_OPTIONS,
    PGAPPNAME: 'durable-runbooks',
    PGCONNECT_TIMEOUT: '10',
    ...extra,
  };
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  return env;
}

const CONNECTION_LOST =
  /terminating connection due to administrator command|server closed the connection unexpectedly|connection to server .* failed|could not connect to server|the database system is (?:starting up|shutting down|in recovery mode)|Connection refused/;

/** Runs a PostgreSQL client tool; fails with its (redacted) words. Cancels with the activity. */
export async function pgTool(
  conn: PgConnection,
  database: string,
  bin: string,
  args: string[],
  opts: { timeoutMs?: number; stdin?: AsyncIterable<Uint8Array> } = {},
) {
  let cancelSignal: AbortSignal | undefined;
  try {
    cancelSignal = Context.current().cancellationSignal;
  } catch {
    cancelSignal = undefined; // outside an activity (benchmarks)
  }
  const r = await execa(bin, args, {
    env: childEnv(pgEnv(conn, database), { pass: LIBPQ_VARS }),
    extendEnv: false,
    reject: false,
    timeout: opts.timeoutMs ?? 60 * 60_000,
    stdin: opts.stdin ?? 'ignore',
    cancelSignal,
    maxBuffer: 256 * 1024 * 1024,
  });
  const secrets = [conn.password];
  if (r.exitCode === undefined && (r as { code?: string }).code === 'ENOENT') {
    throw ApplicationFailure.nonRetryable(
      `${bin} is not installed on this worker (Debian: apt-get install postgresql-client).`,
      FailureType.commandMissing,
    );
  }
  if (r.isCanceled) throw ApplicationFailure.nonRetryable(`${bin} was cancelled.`, 'Cancelled');
  if (r.exitCode !== 0) {
    const message = `${bin} ${args
      .filter((a) => !a.startsWith('-') || a.length < 3)
      .slice(0, 3)
      .join(
        ' ',
      )} on database "${database}" failed (exit ${r.exitCode ?? r.signal}): ${trimOutput(redact(r.stderr || r.stdout, secrets))}`;
    // A dump cut off by the server going away (restart, failover) is retried: each attempt dumps
    // afresh into its own partial directory, so a retry cannot mix attempts. Other tools are not
    // retried blindly (a half-done restore must be looked at).
    if (bin === 'pg_dump' && CONNECTION_LOST.test(r.stderr))
      throw ApplicationFailure.retryable(`${message} (the connection was lost: retrying)`, 'ConnectionLost');
    throw ApplicationFailure.nonRetryable(message, FailureType.command);
  }
  return { stdout: r.stdout, stderr: redact(r.stderr, secrets) };
}

/**
 * A plain SQL dump into `database` by psql in restricted mode: psql refuses every meta-command
 * the script holds (see plain-sql.ts), and the script cannot lift it without the key, a fresh one
 * each time and never in the file. ON_ERROR_STOP and one transaction: a refusal restores nothing.
 */
export async function psqlRestricted(conn: PgConnection, database: string, file: string) {
  const key = randomBytes(24).toString('hex');
  try {
    return await pgTool(
      conn,
      database,
      'psql',
      ['--no-psqlrc', '--quiet', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', '-'],
      { stdin: restrictedScript(file, key) },
    );
  } catch (err) {
    const message = (err as Error).message;
    if (PSQL_WITHOUT_RESTRICT.test(message)) {
      throw ApplicationFailure.nonRetryable(
        `psql on this worker has no restricted mode (\\restrict: psql 13.22, 14.19, 15.14, 16.10, 17.6 or newer), so the plain SQL dump ${file} was not restored: its meta-commands could run here. Upgrade postgresql-client on the worker, or restore from a custom or directory dump.`,
        FailureType.commandMissing,
      );
    }
    if (PSQL_REFUSED.test(message)) {
      throw ApplicationFailure.nonRetryable(
        `Backup ${file} is refused: psql met a meta-command in it and refused it (restricted mode); nothing was restored into "${database}". Use a dump made by pg_dump.`,
        BackupRefused,
      );
    }
    throw err;
  }
}
