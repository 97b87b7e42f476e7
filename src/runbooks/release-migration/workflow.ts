import { ApplicationFailure } from '@temporalio/workflow';
import type { FreezeResult, LostRows, SmokeResult, SwapResult, TargetInfo } from '../../activities/index.js';
import { databasePreflight, databaseSafety, type Rehearsal, type UndoPoint } from '../shared/database-safety.js';
import { GateClosed } from '../../engine/gates.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { ReleaseMigrationInput } from './definition.js';
import {
  dryRunSummary,
  freezeWritesGate,
  handedOverSummary,
  rehearsalFailedSummary,
  releaseFailure,
  rolledBackSummary,
  upgradedSummary,
  upgradeGate,
  rollbackGate,
  type Release,
} from './texts.js';

/**
 * Prevents seed 003 "Migración fallida": a failed release becomes a one-second rollback. What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export interface ReleaseMigrationFindings {
  outcome: 'upgraded' | 'rolled-back' | 'rehearsal-failed' | 'handed-over' | 'dry-run';
  fromRevision: string[] | null;
  toRevision: string;
  freeze?: FreezeResult;
  undoPoint?: UndoPoint;
  rehearsal: Rehearsal;
  upgrade?: { ok: boolean; output: string; revisionAfter: string[] | null };
  smoke?: SmokeResult[];
  rollback?: SwapResult & { lost: LostRows[] };
}

export async function releaseMigration(input: ReleaseMigrationInput): Promise<RunbookResult<ReleaseMigrationFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    if (!input.dryRun) await rb.lockTarget();
    const target = await rb.resolveTarget();
    const pre = await rb.step('preflight', () => preflight(input, target), {
      inputs: { toRevision: input.toRevision ?? 'head' },
    });
    const toRevision = pre.toRevision;
    const db = databaseSafety(rb, input, target);
    const release: Release = { live: db.live, fromRevision: pre.fromRevision, toRevision };
    const result = (
      outcome: ReleaseMigrationFindings['outcome'],
      healthy: boolean,
      summary: string[],
      f: Partial<ReleaseMigrationFindings> & { rehearsal: Rehearsal },
    ): RunbookResult<ReleaseMigrationFindings> => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings: { outcome, fromRevision: pre.fromRevision, toRevision, ...f },
    });
    const up = { direction: 'upgrade' as const, revision: toRevision };
    if (input.dryRun) {
      const rehearsal = await db.rehearseOnFreshCopy('rehearse-upgrade', up);
      const summary = dryRunSummary(release, rehearsal, Boolean(target.freezeWrites));
      return result('dry-run', rehearsal.ran, summary, { rehearsal });
    }

    const settings = await db.recordSettings(); // before the freeze: the database as its users know it
    let freeze: FreezeResult | undefined;
    if (target.freezeWrites) {
      const freezing = { target: input.target, freezeWhat: db.freezeWhat, info: target };
      await rb.gate('freeze-writes', freezeWritesGate(release, freezing));
      freeze = await db.freeze();
    }
    const undoPoint = await db.undoPoint('pre-release', settings.allowConnections);
    const rehearsal = await db.rehearse('rehearse-upgrade', undoPoint.snapshot.name, up);
    // A production database may differ from a fresh build before any release (a DBA's index):
    // for an upgrade, the rehearsal must run; its schema comparison is evidence at the gate.
    if (!rehearsal.ran) {
      if (freeze) await db.unfreeze();
      const summary = rehearsalFailedSummary(release, rehearsal, undoPoint);
      return result('rehearsal-failed', false, summary, { freeze, undoPoint, rehearsal });
    }

    await rb.gate('upgrade', upgradeGate(release, rehearsal, undoPoint));
    const upgrade = await db.migrateLive('apply-upgrade', up);
    const smoke = upgrade.ok ? await rb.step('smoke', () => act.smokeChecks(input.target)) : [];
    if (upgrade.ok && smoke.every((s) => s.ok)) {
      if (freeze) await db.unfreeze();
      const summary = upgradedSummary(release, { upgrade, rehearsal, smoke, undoPoint });
      return result('upgraded', true, summary, { freeze, undoPoint, rehearsal, upgrade, smoke });
    }

    // The release failed on the live database: propose the instant rollback.
    const why = releaseFailure(upgrade, smoke);
    const lost = await db.lostRows('rollback-evidence', undoPoint.snapshot.name);
    try {
      await rb.gate('rollback', { ...rollbackGate(release, why, lost, undoPoint), policy: { fourEyes: false } });
    } catch (err) {
      if (!(err instanceof GateClosed)) throw err;
      const gate = { status: err.gate.status, message: err.message };
      const frozen = freeze !== undefined;
      const handover = { why, target: input.target, gate, frozen, snapshot: undoPoint.snapshot.name };
      const summary = handedOverSummary(release, handover);
      return result('handed-over', false, summary, { freeze, undoPoint, rehearsal, upgrade, smoke });
    }
    const swapped = await db.swap('swap-back', undoPoint.snapshot.name, settings, 'failed', freeze !== undefined);
    if (freeze) await db.unfreeze();
    const summary = rolledBackSummary(release, why, swapped.keptAs, lost);
    const rollback = { ...swapped, lost };
    return result('rolled-back', false, summary, { freeze, undoPoint, rehearsal, upgrade, smoke, rollback });
  });

  async function preflight(input: ReleaseMigrationInput, target: TargetInfo) {
    const { database, admin, space, code, applied } = await databasePreflight('release-migration', input, target, {
      freezes: true,
    });
    const unknown = (applied ?? []).filter((r) => !code.known.includes(r));
    if (unknown.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `${database} is at ${unknown.join(', ')}, which the code in ${code.dir} does not know: the code lacks a migration the database has (a schema-drift revision not committed yet?). Commit that migration file first.`,
        'UnknownRevision',
      );
    }
    const wanted = input.toRevision ?? 'head';
    if (wanted !== 'head' && !code.known.includes(wanted))
      throw ApplicationFailure.nonRetryable(
        `Unknown toRevision "${wanted}": the code knows ${code.known.join(', ')}.`,
        'UnknownRevision',
      );
    if (wanted === 'head' && code.heads.length !== 1)
      throw ApplicationFailure.nonRetryable(
        `The code has ${code.heads.length} heads (${code.heads.join(', ')}); name toRevision.`,
        'UnknownRevision',
      );
    const toRevision = wanted === 'head' ? code.heads[0]! : wanted;
    if (applied?.length === 1 && applied[0] === toRevision)
      throw ApplicationFailure.nonRetryable(
        `${database} is already at ${toRevision}; nothing to release.`,
        'NothingToDo',
      );
    return { fromRevision: applied, toRevision, heads: code.heads, privileges: admin, space };
  }
}
