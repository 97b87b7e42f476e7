import type { LostRows, SchemaDiff, SmokeResult, TargetInfo } from '../../activities/index.js';
import type { RootCauseInput } from '../../contract/messages.js';
import type { Rehearsal, UndoPoint } from '../shared/database-safety.js';
import { describeRehearsal, lostSummary, undoPointEvidence } from '../shared/database-texts.js';

/** migration-failed's texts: what its gates ask and show, and what its summary says. */

/** What preflight found: the revisions, and where the run would go back to. */
export interface RepairPlan {
  /** The revision(s) the database is at. */
  applied: string[] | null;
  heads: string[];
  toRevision: string;
  toRevisionFrom: 'input' | 'release-snapshot';
  restoreSource?: string;
}

/** The evidence step's result when the database has no alembic revision to compare with. */
export function noRevisionLeftovers(): SchemaDiff & { revision: string } {
  return { same: true, extra: [], missing: [], reference: 'none: the database has no alembic revision', revision: '' };
}

/** The evidence step in one sentence: what a failed revision left behind in the live database. */
export function leftoverLine(found: string | undefined, leftovers: SchemaDiff): string {
  if (leftovers.same)
    return `The live database matches a fresh build of ${found ?? 'its revision'}: no leftovers of a failed revision.`;
  return `The live database differs from a fresh build of its revision ${found}: ${leftovers.extra.length} object(s) a failed revision left behind (${leftovers.extra.slice(0, 3).join('; ')}), ${leftovers.missing.length} missing.`;
}

function dropLeftovers(cleanup: string[]): string {
  return cleanup.length ? ` and drop ${cleanup.length} leftover(s)` : '';
}

/** A dry run's summary: the leftovers, the rehearsal on a fresh copy, and what a run would do. */
export function dryRunSummary(f: {
  live: string;
  leftoverText: string;
  rehearsal: Rehearsal;
  plan: RepairPlan;
}): string[] {
  const wouldRun = f.rehearsal.clean
    ? `Would run: freeze writes ⛔, snapshot, dump, downgrade ⛔ to ${f.plan.toRevision}${dropLeftovers(f.rehearsal.cleanup)}, verify, unfreeze.`
    : `The downgrade would not repair it: the run would propose restoring ${f.plan.restoreSource ?? '(no snapshot or backup: give one with backup)'} ⛔.`;
  return [
    `Dry run: nothing was changed on ${f.live}.`,
    f.leftoverText,
    describeRehearsal(f.rehearsal, 'a restore of a fresh dump'),
    wouldRun,
  ];
}

/** The freeze-writes gate: what freezing does, and the evidence the repair starts from. */
export function freezeWritesGate(f: {
  db: { live: string; freezeWhat: string };
  target: string;
  info: Pick<TargetInfo, 'freezeWrites' | 'writerServices'>;
  plan: RepairPlan;
  leftovers: SchemaDiff;
  leftoverText: string;
}) {
  return {
    prompt: `Freeze writes to ${f.db.live} (target ${f.target}) to repair the failed migration? ${f.db.freezeWhat} ${f.leftoverText}`,
    evidence: {
      method: f.info.freezeWrites ?? 'read-only',
      writerServices: f.info.writerServices,
      database: f.db.live,
      foundRevision: f.plan.applied,
      toRevision: f.plan.toRevision,
      toRevisionFrom: f.plan.toRevisionFrom,
      leftovers: f.leftovers,
      heads: f.plan.heads,
      restoreSource: f.plan.restoreSource ?? null,
    },
  };
}

/** The downgrade gate: from and to which revision, the leftovers it drops, and the rehearsal. */
export function downgradeGate(f: {
  live: string;
  found: string | undefined;
  toRevision: string;
  rehearsal: Rehearsal;
  undoPoint: UndoPoint;
}) {
  const drop = f.rehearsal.cleanup.length
    ? ` and drop ${f.rehearsal.cleanup.length} leftover(s) (${f.rehearsal.cleanup.join('; ')})`
    : '';
  return {
    prompt: `Downgrade ${f.live} from ${f.found ?? 'no revision'} to ${f.toRevision}${drop}? ${describeRehearsal(f.rehearsal, `a clone of ${f.live}`)}`,
    evidence: { rehearsal: f.rehearsal, undoPoint: undoPointEvidence(f.undoPoint) },
  };
}

/** Why the downgrade cannot repair it: the rehearsal, or the live database after the downgrade. */
export function notRepairedWhy(f: {
  live: string;
  toRevision: string;
  rehearsal: Rehearsal;
  verify?: SchemaDiff;
}): string {
  if (!f.rehearsal.clean) return describeRehearsal(f.rehearsal, `a clone of ${f.live}`);
  return `After the downgrade the live database is not a clean ${f.toRevision}: ${f.verify?.extra.length ?? 0} extra, ${f.verify?.missing.length ?? 0} missing statement(s).`;
}

/** The restore-source step's refusal when there is nothing to restore from. */
export function noRestoreSource(live: string): string {
  return `Nothing to restore from: no release-migration snapshot of ${live} and no backup given. Retry this step with a correction {"backup": "<path of a pg_dump file or directory>"}, or reject to put the database back as it was found.`;
}

/** The restore gate: why, from what, and what the restore would lose. */
export function restoreGate(f: {
  why: string;
  live: string;
  source: string;
  scratch: string;
  lost: LostRows[];
  undoPoint: UndoPoint;
}) {
  return {
    prompt: `${f.why} Restore ${f.live} from the ${f.source} (restored into ${f.scratch} and checked; swapped in by two renames, the current database kept under a dated name)? ${lostSummary(f.lost)}`,
    evidence: {
      why: f.why,
      source: f.source,
      scratch: f.scratch,
      lost: f.lost,
      undoPoint: undoPointEvidence(f.undoPoint),
    },
  };
}

/** The reapply gate, once the cause is fixed. */
export function reapplyGate(f: { live: string; revision: string[] | null; heads: string[] }) {
  return {
    prompt: `Re-apply the migrations on ${f.live} (alembic upgrade head), now that the cause is fixed?`,
    evidence: { revision: f.revision, heads: f.heads },
  };
}

/** What the root-cause input asks for once the repair is done. */
export function rootCausePrompt(target: string, outcome: string): string {
  return `The repair of ${target} is done (${outcome}). Write the root-cause note: what failed, why, and the permanent fix (runbook root-cause <run> --note "…", the console, or the API).`;
}

/** Why a root-cause note is refused, if it is: not the documented shape, or one was recorded already. */
export function rootCauseRefusal(r: RootCauseInput, recorded: RootCauseInput | undefined): string | undefined {
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.by !== 'string' ||
    !r.by.trim() ||
    typeof r.note !== 'string' ||
    !r.note.trim()
  )
    return 'A root-cause note is one JSON object: {"by": "<person>", "note": "<what caused the failure>"}.';
  if (recorded) return `The root cause was already recorded by ${recorded.by}.`;
  return undefined;
}

export interface RepairFacts {
  live: string;
  undoPoint: UndoPoint;
  /** The downgrade that repaired it; absent when the database was restored. */
  downgraded?: { found: string | undefined; toRevision: string; cleanup: string[] };
  /** The restore that repaired it; absent when the downgrade did. */
  restored?: { why: string; source: string; keptAs: string; lost: LostRows[] };
  reapplied?: { ok: boolean; output: string; revisionAfter: string[] | null };
  smoke: SmokeResult[];
  rootCause: RootCauseInput | null;
}

function smokeLine(smoke: SmokeResult[]): string {
  if (smoke.length === 0) return 'No smoke checks declared for this target.';
  const failed = smoke.filter((s) => !s.ok);
  const which = failed.length ? ` (failed: ${failed.map((s) => s.name).join(', ')})` : '';
  return `Smoke checks: ${smoke.length - failed.length}/${smoke.length} passed${which}.`;
}

/** The summary after a repair: how it was repaired, re-applied, smoke checks, the undo point, the root cause. */
export function repairSummary(f: RepairFacts): string[] {
  const lines: string[] = [];
  if (f.downgraded) {
    const { found, toRevision, cleanup } = f.downgraded;
    const dropped = cleanup.length ? `, ${cleanup.length} leftover(s) dropped` : '';
    lines.push(
      `${f.live} downgraded from ${found} to ${toRevision}${dropped}; it now equals a fresh build of ${toRevision}.`,
    );
  }
  if (f.restored)
    lines.push(
      f.restored.why,
      `${f.live} restored from the ${f.restored.source}; the database it replaced is kept as ${f.restored.keptAs}. ${lostSummary(f.restored.lost)}`,
    );
  if (f.reapplied)
    lines.push(
      f.reapplied.ok
        ? `Re-applied: ${f.live} is at ${f.reapplied.revisionAfter?.join(', ')}.`
        : `Re-applying FAILED (the cause is not fixed?): ${f.reapplied.output}`,
    );
  lines.push(
    smokeLine(f.smoke),
    `Undo point kept for the target's retention: snapshot ${f.undoPoint.snapshot.name}, dump ${f.undoPoint.dump.path} (manifest sha256 ${f.undoPoint.dump.manifestSha256}).`,
    f.rootCause
      ? `Root cause (${f.rootCause.by}): ${f.rootCause.note}`
      : 'No root-cause note was given before the deadline: add it to the incident ticket.',
  );
  return lines;
}
