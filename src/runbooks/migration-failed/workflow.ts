import { ApplicationFailure } from '@temporalio/workflow';
import type {
  FreezeResult,
  LostRows,
  SchemaDiff,
  SmokeResult,
  SwapResult,
  TargetInfo,
  VerifiedBackup,
} from '../../activities/index.js';
import {
  databasePreflight,
  databaseSafety,
  type DatabaseSafety,
  type Rehearsal,
  type UndoPoint,
} from '../shared/database-safety.js';
import { twinHandlers } from '../../engine/twin.js';
import { rootCauseSignal, rootCauseUpdate, type RootCauseInput } from '../../contract/messages.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { MigrationFailedInput } from './definition.js';
import {
  downgradeGate,
  dryRunSummary,
  freezeWritesGate,
  leftoverLine,
  noRestoreSource,
  noRevisionLeftovers,
  notRepairedWhy,
  reapplyGate,
  repairSummary,
  restoreGate,
  rootCausePrompt,
  rootCauseRefusal,
} from './texts.js';

/**
 * Seed 003 "Migración fallida", made safe: never the seed's blind `downgrade -1`. What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export interface MigrationFailedFindings {
  outcome: 'downgraded' | 'restored' | 'dry-run';
  foundRevision: string[] | null;
  toRevision: string;
  toRevisionFrom: 'input' | 'release-snapshot';
  leftovers: SchemaDiff;
  freeze?: FreezeResult;
  undoPoint?: UndoPoint;
  rehearsal: Rehearsal;
  verify?: SchemaDiff & { revision: string };
  restore?: SwapResult & { source: string; lost: LostRows[] };
  reapplied?: { ok: boolean; output: string; revisionAfter: string[] | null };
  smoke?: SmokeResult[];
  rootCause?: RootCauseInput;
}

export async function migrationFailed(input: MigrationFailedInput): Promise<RunbookResult<MigrationFailedFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  let rootCause: RootCauseInput | undefined;
  twinHandlers(rb.journal, rootCauseUpdate, rootCauseSignal, {
    validate: (r) => {
      const refused = rootCauseRefusal(r, rootCause);
      if (refused) throw new Error(refused);
    },
    apply: (r, via) => {
      const channel = rb.authorize('root-cause', r, r.note, via);
      rootCause = { by: r.by, note: r.note };
      rb.journal.add({ kind: 'note', step: 'root-cause', actor: r.by, outcome: 'ok', comment: r.note, channel });
      return { recorded: true as const };
    },
    step: () => 'root-cause',
  });

  return rb.run(async () => {
    if (!input.dryRun) await rb.lockTarget();
    const target = await rb.resolveTarget();
    const pre = await rb.step('preflight', () => preflight(target), {
      inputs: { toRevision: input.toRevision ?? '(pre-release revision)', backup: input.backup ?? null },
    });
    const db = databaseSafety(rb, input, target);
    const { live } = db;
    const found = pre.applied?.[0];
    const leftovers = found
      ? await db.compareLive('evidence', found)
      : await rb.step('evidence', async () => noRevisionLeftovers());
    const leftoverText = leftoverLine(found, leftovers);
    const result = (
      outcome: MigrationFailedFindings['outcome'],
      healthy: boolean,
      summary: string[],
      f: Partial<MigrationFailedFindings> & { rehearsal: Rehearsal },
    ): RunbookResult<MigrationFailedFindings> => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings: {
        outcome,
        foundRevision: pre.applied,
        toRevision: pre.toRevision,
        toRevisionFrom: pre.toRevisionFrom,
        leftovers,
        ...f,
      },
    });
    const down = { direction: 'downgrade' as const, revision: pre.toRevision };
    if (input.dryRun) {
      const rehearsal = await db.rehearseOnFreshCopy('rehearse-downgrade', down, { tryCleanup: true });
      const summary = dryRunSummary({ live, leftoverText, rehearsal, plan: pre });
      return result('dry-run', rehearsal.clean, summary, { rehearsal });
    }

    const freezing = { db, target: input.target, info: target, plan: pre, leftovers, leftoverText };
    await rb.gate('freeze-writes', freezeWritesGate(freezing));
    const settings = await db.recordSettings(); // before the freeze: the database as its users know it
    const freeze = await db.freeze();
    const undoPoint = await db.undoPoint('undo-point', settings.allowConnections);
    const rehearsal = await db.rehearse('rehearse-downgrade', undoPoint.snapshot.name, down, { tryCleanup: true });

    let verify: (SchemaDiff & { revision: string }) | undefined;
    let downgraded = false;
    if (rehearsal.clean) {
      await rb.gate('downgrade', downgradeGate({ live, found, toRevision: pre.toRevision, rehearsal, undoPoint }));
      const downgrade = await db.migrateLive('apply-downgrade', down);
      rb.compensate('put-back-undo-point', () => db.swapNow(undoPoint.snapshot.name, settings, 'abandoned', false));
      const statements = rehearsal.cleanup;
      if (downgrade.ok && statements.length > 0)
        await rb.step('drop-leftovers', () => act.pgExecute(input.target, { statements }), { inputs: { statements } });
      verify = await db.compareLive('verify', pre.toRevision);
      const atRevision = downgrade.revisionAfter?.length === 1 && downgrade.revisionAfter[0] === pre.toRevision;
      downgraded = downgrade.ok && atRevision && verify.same;
    }

    // The downgrade cannot repair it (the rehearsal or the live run says so): restore the pre-release state.
    let restore: MigrationFailedFindings['restore'];
    const why = notRepairedWhy({ live, toRevision: pre.toRevision, rehearsal, verify });
    if (!downgraded) {
      const { scratch, source } = await rb.step(
        'restore-source',
        (fix) => restoreSource(db, pre.releaseSnapshot, fix),
        {
          inputs: { backup: input.backup ?? null, releaseSnapshot: pre.releaseSnapshot ?? null },
          corrections: { backup: 'path of a pg_dump file or directory' },
        },
      );
      const lost = await db.lostRows('restore-evidence', scratch);
      await rb.gate('restore', restoreGate({ why, live, source, scratch, lost, undoPoint }));
      const swapped = await db.swap('swap-in', scratch, settings, 'pre_restore', true);
      restore = { ...swapped, source, lost };
    }
    const outcome = downgraded ? 'downgraded' : 'restored';

    let reapplied: MigrationFailedFindings['reapplied'];
    if (input.reapply) {
      const revision = (await act.pgAppliedRevision(input.target)).revisions;
      await rb.gate('reapply', reapplyGate({ live, revision, heads: pre.heads }));
      const up = await db.migrateLive('apply-reapply', { direction: 'upgrade', revision: 'head' });
      reapplied = { ok: up.ok, output: up.output, revisionAfter: up.revisionAfter };
    }
    const smoke = await rb.step('smoke', () => act.smokeChecks(input.target));
    await db.unfreeze();
    await rb.unlockTarget(); // waiting for a note must not keep others from the target
    const deadline = input.rootCauseDeadline ?? '24h';
    const ask = { input: 'root-cause' as const, prompt: rootCausePrompt(input.target, outcome), deadline };
    const rc = await rb.step('root-cause', async () => (await rb.awaitInput(ask, () => rootCause)) ?? null, {
      inputs: { deadline },
    });

    const summary = repairSummary({
      live,
      undoPoint,
      downgraded: downgraded ? { found, toRevision: pre.toRevision, cleanup: rehearsal.cleanup } : undefined,
      restored: restore && { why, ...restore },
      reapplied,
      smoke,
      rootCause: rc,
    });
    const healthy = smoke.every((s) => s.ok) && (reapplied?.ok ?? true);
    const repair = { freeze, undoPoint, rehearsal, verify, ...(restore ? { restore } : {}) };
    return result(outcome, healthy, summary, { ...repair, reapplied, smoke, rootCause: rc ?? undefined });
  });

  /** The restore's source: the given backup (or the correction's), else a copy of the pre-release snapshot. */
  async function restoreSource(db: DatabaseSafety, releaseSnapshot?: string, correction?: Record<string, unknown>) {
    const backup = (correction?.backup as string | undefined) ?? input.backup;
    if (backup) return { scratch: await db.restoreToScratch(backup), source: `backup ${backup}` };
    if (releaseSnapshot)
      return { scratch: await db.copyToScratch(releaseSnapshot), source: `pre-release snapshot ${releaseSnapshot}` };
    throw ApplicationFailure.nonRetryable(noRestoreSource(db.live), 'NoRestoreSource');
  }

  async function preflight(target: TargetInfo) {
    const { database, space, code, applied } = await databasePreflight('migration-failed', input, target, {
      freezes: true,
    });
    const release = (await act.pgListManaged(input.target)).find(
      (d) => d.kind === 'snapshot' && d.purpose === 'pre-release' && d.live === database,
    );
    const releaseRevision = release?.revision?.length === 1 ? release.revision[0] : undefined;
    const toRevision = input.toRevision ?? releaseRevision;
    if (!toRevision) {
      throw ApplicationFailure.nonRetryable(
        `toRevision is required: no release-migration snapshot of ${database} records a pre-release revision. Name the last good revision (alembic history: ${code.known.join(', ')}); a blind "downgrade -1" could undo a good revision.`,
        'ToRevisionRequired',
      );
    }
    if (!code.known.includes(toRevision))
      throw ApplicationFailure.nonRetryable(
        `Unknown toRevision "${toRevision}": the code knows ${code.known.join(', ')}.`,
        'UnknownRevision',
      );
    const unknown = (applied ?? []).filter((r) => !code.known.includes(r));
    if (unknown.length > 0)
      throw ApplicationFailure.nonRetryable(
        `${database} is at ${unknown.join(', ')}, which the code in ${code.dir} does not know; alembic cannot downgrade from it. Put that migration file in the code first.`,
        'UnknownRevision',
      );
    let backup: VerifiedBackup | undefined;
    if (input.backup) backup = await act.pgVerifyBackup(input.target, input.backup);
    return {
      applied,
      heads: code.heads,
      toRevision,
      toRevisionFrom: input.toRevision ? ('input' as const) : ('release-snapshot' as const),
      releaseSnapshot: release?.name,
      backup,
      space,
      restoreSource: input.backup
        ? `backup ${input.backup}`
        : release
          ? `pre-release snapshot ${release.name}`
          : undefined,
    };
  }
}
