import type { DriftReport } from '../../activities/index.js';
import { RETRY_SQL_LIMITS } from '../../util/sql-statement.js';
import type { Rehearsal, UndoPoint } from '../shared/database-safety.js';
import { describeRehearsal } from '../shared/database-texts.js';

/** schema-drift's texts: what its gates ask and show (and so what their plan digests cover). */

export interface RetryPlan {
  /** The statement retried (retrySql), exactly as given. */
  sql?: string;
  /** The URL retried (retryHttp). */
  http?: string;
  /** The role the statement runs as, when checked before the change. */
  role?: string;
  /** The plan in one line: the gate's prompt and the step's result say it with the same words. */
  how: string;
}

/** What the retry step will run after the repair. */
export function retryPlan(input: { retrySql?: string; retryHttp?: string }, role?: string): RetryPlan {
  if (input.retrySql) {
    const as = role ? `the app's role ${role} (checked: no superuser)` : "the app's role";
    const ignored = input.retryHttp ? ` (retryHttp ${input.retryHttp} is not run: retrySql comes first)` : '';
    return {
      sql: input.retrySql,
      http: input.retryHttp,
      role,
      how: `one SQL statement as ${as}, in a transaction that is always rolled back (statement_timeout ${RETRY_SQL_LIMITS.statementTimeout}): ${input.retrySql}${ignored}`,
    };
  }
  if (input.retryHttp) return { http: input.retryHttp, how: `GET ${input.retryHttp}` };
  return { how: 'no failing operation was given (retrySql or retryHttp)' };
}

export interface ApplyRevisionFacts {
  revId: string;
  live: string;
  generated: DriftReport;
  rehearsed: Rehearsal;
  rehearsal: Rehearsal & { driftAfter: string };
  refusedLine?: string;
  undoPoint: UndoPoint;
  retry: RetryPlan;
}

/** The gate before the change: the operations, the rehearsal, and the operation retried after it. */
export function applyRevisionGate(f: ApplyRevisionFacts): { prompt: string; evidence: Record<string, unknown> } {
  return {
    prompt: [
      `Apply the generated revision ${f.revId} to ${f.live}?`,
      f.generated.ops,
      `${describeRehearsal(f.rehearsed, 'a clone of this very data')} No drift was left on the clone.${f.refusedLine ? ` ${f.refusedLine}` : ''}`,
      `Then the failing operation is retried: ${f.retry.how}`,
    ].join('\n'),
    evidence: {
      operations: f.generated.ops,
      refused: f.generated.refused,
      rehearsal: f.rehearsal,
      artifact: f.generated.artifact,
      undoPoint: {
        snapshot: f.undoPoint.snapshot.name,
        dump: f.undoPoint.dump.path,
        manifestSha256: f.undoPoint.dump.manifestSha256,
      },
      retry: { sql: f.retry.sql, http: f.retry.http, role: f.retry.role },
    },
  };
}
