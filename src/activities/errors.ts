import { ApplicationFailure } from '@temporalio/common';
import { TargetsError, type TargetRegistry, type TargetSpec } from '../targets.js';
import { redact } from '../util/redact.js';

/** Failure types tests and operators can match on. */
export const FailureType = {
  targetConfig: 'TargetConfigError',
  dbUnreachable: 'DatabaseUnreachable',
  dbAuth: 'DatabaseAuthFailed',
  dbMissing: 'DatabaseMissing',
  dbQuery: 'DatabaseQueryFailed',
  command: 'CommandFailed',
  commandMissing: 'CommandMissing',
  serviceCommand: 'ServiceCommandFailed',
  serviceTimedOut: 'ServiceCommandTimedOut',
  serviceUnhealthy: 'ServiceUnhealthy',
  /** A step cannot record (or trust) what it already did, so a retry could repeat it. */
  stepLedger: 'StepLedgerUnusable',
} as const;

/** Target registry problems cannot be fixed by retrying: fail at once with the registry's words. */
export function targetFailure(err: unknown): never {
  if (err instanceof TargetsError) throw ApplicationFailure.nonRetryable(err.message, FailureType.targetConfig);
  throw err;
}

/** A target's spec from the registry; an unknown target fails the activity at once, with the registry's words. */
export function targetSpec(targets: TargetRegistry, name: string): TargetSpec {
  try {
    return targets.spec(name);
  } catch (err) {
    return targetFailure(err);
  }
}

interface PgErrorLike {
  code?: string;
  message?: string;
}

/**
 * Turns a node-postgres error into a message that names the target, host and port and says what
 * to check. Unreachable servers are retried (bounded by the activity's policy); the rest are not.
 */
export function pgFailure(
  err: unknown,
  where: { target: string; host: string; port: number; database: string },
  secrets: Array<string | undefined>,
): ApplicationFailure {
  const e = err as PgErrorLike;
  const at = `PostgreSQL at ${where.host}:${where.port} (target "${where.target}")`;
  const detail = redact(e.message ?? String(err), secrets);
  switch (e.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case '57P03': // cannot_connect_now: starting up or shutting down
      return ApplicationFailure.retryable(
        `Cannot connect to ${at}: ${detail}. Check that the server is running and that host and port in the targets file are right.`,
        FailureType.dbUnreachable,
      );
    case '28P01':
    case '28000':
      return ApplicationFailure.nonRetryable(
        `${at} refused the login: ${detail}. Check the user in the targets file and the password variable it names.`,
        FailureType.dbAuth,
      );
    case '3D000':
      return ApplicationFailure.nonRetryable(
        `${at} has no database "${where.database}". Check the database name in the targets file.`,
        FailureType.dbMissing,
      );
    default:
      if (/timeout|terminated|Connection terminated/i.test(detail)) {
        return ApplicationFailure.retryable(`Lost the connection to ${at}: ${detail}.`, FailureType.dbUnreachable);
      }
      return ApplicationFailure.nonRetryable(`${at}: ${detail}`, FailureType.dbQuery);
  }
}
