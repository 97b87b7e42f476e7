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

const TYPES_NOTE =
  'alembic 1.8 does not compare column types by default (compare_type is off): a column whose type changed is not reported as drift.';

/** The drops autogenerate proposed for objects outside the models, which are never generated. */
export function refusedDrops(refused: string[]): string | undefined {
  return refused.length
    ? `Refused (never generated): ${refused.length} drop(s) autogenerate proposed for objects outside the models: ${refused.join('; ')}.`
    : undefined;
}

const lines = (...ls: Array<string | undefined>) => ls.filter((l): l is string => l !== undefined);

/** The summary when the database matches the models. */
export function noDriftSummary(database: string, refused?: string): string[] {
  return lines(`No drift: ${database} matches the app's models.`, refused, TYPES_NOTE);
}

/** A dry run's summary: the drift found and what a run would do. */
export function dryRunSummary(ops: string, refused?: string): string[] {
  return lines(
    `Drift found (dry run, nothing changed): ${ops}`,
    refused,
    'Would run: snapshot, dump, generate the revision, rehearse it on a clone, apply ⛔, verify, retry the failing operation, confirm the commit ⛔.',
    TYPES_NOTE,
  );
}

/** The summary when the revision failed on the clone or left drift there: nothing changed. */
export function rehearsalFailedSummary(rehearsed: Rehearsal, driftOnClone: string, live: string): string[] {
  return [
    describeRehearsal(rehearsed, 'a clone'),
    `Drift left on the clone: ${driftOnClone || 'none'}.`,
    `Nothing was changed on ${live}.`,
    TYPES_NOTE,
  ];
}

/** The confirm-commit gate: commit the generated file, then approve with the commit id. */
export function confirmCommitGate(f: { revId: string; generated: DriftReport }) {
  const file = f.generated.file?.split('/').pop();
  return {
    prompt: `Commit the generated migration to the app's repository (${file}; the file is saved at ${f.generated.artifact}), then approve with the commit id as the comment. Until it is committed the next deploy fails with "Can't locate revision ${f.revId}", and release-migration refuses this database.`,
    evidence: { file, artifact: f.generated.artifact, content: f.generated.content, revision: f.revId },
  };
}

/** Why an approval's comment is not taken as the commit id. */
export function notACommitId(id: string): string {
  return `"${id}" is not a commit id (7 to 40 hex characters); asked again.`;
}

export interface RepairedFacts {
  live: string;
  revId: string;
  generated: DriftReport;
  applied: { revisionAfter: string[] | null };
  driftAfter: DriftReport;
  retried: { ok: boolean; error?: string; how: string };
  commit: { id: string; by: string } | { missing: string };
  refusedLine?: string;
}

/** The summary after the repair: applied, drift left, the retried operation, the commit. */
export function repairedSummary(f: RepairedFacts): string[] {
  const retried = f.retried.ok ? 'it works now' : `it still fails: ${'error' in f.retried ? f.retried.error : ''}`;
  const commit =
    'id' in f.commit
      ? `Migration file committed as ${f.commit.id} (confirmed by ${f.commit.by}).`
      : `The migration file is NOT confirmed committed (${f.commit.missing}): commit ${f.generated.artifact} before the next deploy.`;
  return lines(
    `Drift repaired on ${f.live}: applied ${f.revId} (${f.applied.revisionAfter?.join(', ')}): ${f.generated.ops.replace(/\s+/g, ' ')}`,
    f.driftAfter.ops === '' ? 'No drift remains.' : `Drift remains: ${f.driftAfter.ops}`,
    `Retried the failing operation (${f.retried.how}): ${retried}.`,
    commit,
    f.refusedLine,
    TYPES_NOTE,
  );
}
