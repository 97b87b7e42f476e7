import type { LostRows, SmokeResult, TargetInfo } from '../../activities/index.js';
import type { Rehearsal, UndoPoint } from '../shared/database-safety.js';
import { describeRehearsal, lostSummary, undoPointEvidence } from '../shared/database-texts.js';

/** release-migration's texts: what its gates ask and show, and what its summary says. */

/** The revisions the release goes from and to. */
export interface Release {
  live: string;
  fromRevision: string[] | null;
  toRevision: string;
}

const from = (r: Release) => r.fromRevision?.join(', ') ?? 'no revision';

/** A dry run's summary: the rehearsal on a fresh copy, and what a run would do. */
export function dryRunSummary(r: Release, rehearsal: Rehearsal, freezes: boolean): string[] {
  return [
    `Dry run: nothing was changed on ${r.live}.`,
    describeRehearsal(rehearsal, 'a restore of a fresh dump'),
    `Would run: ${freezes ? 'freeze writes ⛔, ' : ''}snapshot, dump, rehearse on the snapshot, upgrade ⛔ to ${r.toRevision}, smoke checks${freezes ? ', unfreeze' : ''}.`,
  ];
}

/** The freeze-writes gate (targets that declare a freeze). */
export function freezeWritesGate(
  r: Release,
  f: { target: string; freezeWhat: string; info: Pick<TargetInfo, 'freezeWrites' | 'writerServices'> },
) {
  return {
    prompt: `Freeze writes to ${r.live} (target ${f.target}) for the release to ${r.toRevision}? ${f.freezeWhat}`,
    evidence: {
      database: r.live,
      fromRevision: r.fromRevision,
      toRevision: r.toRevision,
      method: f.info.freezeWrites,
      writerServices: f.info.writerServices,
    },
  };
}

/** The summary when the rehearsal failed: nothing changed, the undo point kept. */
export function rehearsalFailedSummary(r: Release, rehearsal: Rehearsal, undoPoint: UndoPoint): string[] {
  return [
    describeRehearsal(rehearsal, `a clone of ${r.live}`),
    `Nothing was changed on ${r.live}: fix the migration and release again. The pre-release snapshot ${undoPoint.snapshot.name} and the dump ${undoPoint.dump.path} are kept for the target's retention.`,
  ];
}

/** The upgrade gate, with the rehearsal on a clone of this very data. */
export function upgradeGate(r: Release, rehearsal: Rehearsal, undoPoint: UndoPoint) {
  return {
    prompt: `Upgrade ${r.live} from ${from(r)} to ${r.toRevision}? Rehearsed on a clone of this very data: ${describeRehearsal(rehearsal, 'the clone')}`,
    evidence: { rehearsal, undoPoint: undoPointEvidence(undoPoint) },
  };
}

/** The summary after a release that upgraded and passed its smoke checks. */
export function upgradedSummary(
  r: Release,
  f: {
    upgrade: { revisionAfter: string[] | null; durationMs: number };
    rehearsal: Rehearsal;
    smoke: SmokeResult[];
    undoPoint: UndoPoint;
  },
): string[] {
  const smoke = f.smoke.length === 0 ? 'none declared for this target' : `${f.smoke.length} passed`;
  return [
    `${r.live} upgraded from ${from(r)} to ${f.upgrade.revisionAfter?.join(', ')} in ${f.upgrade.durationMs} ms (rehearsed first: ${f.rehearsal.durationMs} ms on a clone).`,
    `Smoke checks: ${smoke}.`,
    `Rollback stays one swap away: snapshot ${f.undoPoint.snapshot.name} (and dump ${f.undoPoint.dump.path}, manifest sha256 ${f.undoPoint.dump.manifestSha256}) kept for the target's retention.`,
  ];
}

/** Why the release failed on the live database: the upgrade, or the smoke checks after it. */
export function releaseFailure(
  upgrade: { ok: boolean; output: string; revisionAfter: string[] | null },
  smoke: SmokeResult[],
): string {
  const failed = smoke.filter((s) => !s.ok);
  if (upgrade.ok)
    return `smoke checks failed: ${failed.map((s) => `${s.name} (got ${s.got}, expected ${s.expected})`).join('; ')}`;
  return `the upgrade failed at ${upgrade.revisionAfter?.join(', ') ?? 'no revision'}: ${upgrade.output}`;
}

/** The rollback gate: swap the pre-release snapshot in, or reject to repair forward with migration-failed. */
export function rollbackGate(r: Release, why: string, lost: LostRows[], undoPoint: UndoPoint) {
  return {
    prompt: `The release failed on ${r.live} (${why}). Roll back by swapping the pre-release snapshot ${undoPoint.snapshot.name} in (about a second; the failed database is kept under a dated name)? ${lostSummary(lost)} Reject to keep the failed database and repair forward with migration-failed.`,
    evidence: {
      failure: why,
      lost,
      snapshot: undoPoint.snapshot.name,
      snapshotRevision: undoPoint.snapshot.revision,
    },
  };
}

/** The summary when the rollback was rejected or timed out: hand over to migration-failed. */
export function handedOverSummary(
  r: Release,
  f: { why: string; target: string; gate: { status: string; message: string }; frozen: boolean; snapshot: string },
): string[] {
  const frozen = f.frozen ? ' and writes stay frozen' : '';
  return [
    `The release failed on ${r.live}: ${f.why}.`,
    `Rollback ${f.gate.status} (${f.gate.message}); the failed database stays live${frozen}. Run migration-failed on ${f.target}: its default target revision is ${r.fromRevision?.join(', ') ?? 'the pre-release one'} (from snapshot ${f.snapshot}).`,
  ];
}

/** The summary after the rollback: the pre-release snapshot is live, the failed database kept. */
export function rolledBackSummary(r: Release, why: string, keptAs: string, lost: LostRows[]): string[] {
  return [
    `The release failed on ${r.live}: ${why}.`,
    `Rolled back: the pre-release snapshot is live again (${from(r)}); the failed database is kept as ${keptAs} for forensics.`,
    lostSummary(lost),
  ];
}
