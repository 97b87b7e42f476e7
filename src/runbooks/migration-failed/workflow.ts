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
import { databasePreflight, databaseSafety, type Rehearsal, type UndoPoint } from '../shared/database-safety.js';
import { describeRehearsal, lostSummary } from '../release-migration/workflow.js';
import { twinHandlers } from '../../engine/twin.js';
import { rootCauseSignal, rootCauseUpdate, type RootCauseInput } from '../../contract/messages.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { MigrationFailedInput } from './definition.js';

/**
 * Seed 003 "Migración fallida", made safe: freeze writes ⛔ · evidence (revision, heads, what the
 * failed revision left behind, against a fresh build) · undo point (snapshot + verified dump) ·
 * rehearse the downgrade on a clone of the snapshot · downgrade ⛔ (and drop the leftovers the
 * rehearsal found) · verify against a fresh build · if that fails: restore the pre-release state ⛔
 * (release-migration's snapshot or a given backup, restored into scratch, swapped in) · re-apply ⛔ ·
 * smoke · unfreeze · root-cause note. Never the seed's blind `downgrade -1`: the target revision is
 * release-migration's recorded pre-release revision, or given.
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
  const validateRootCause = (r: RootCauseInput) => {
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r.by !== 'string' ||
      !r.by.trim() ||
      typeof r.note !== 'string' ||
      !r.note.trim()
    ) {
      throw new Error('A root-cause note is one JSON object: {"by": "<person>", "note": "<what caused the failure>"}.');
    }
    if (rootCause) throw new Error(`The root cause was already recorded by ${rootCause.by}.`);
  };
  const recordRootCause = (r: RootCauseInput, via: 'update' | 'signal') => {
    const channel = rb.authorize('root-cause', r, r.note, via);
    rootCause = { by: r.by, note: r.note };
    rb.journal.add({ kind: 'note', step: 'root-cause', actor: r.by, outcome: 'ok', comment: r.note, channel });
  };
  twinHandlers(rb.journal, rootCauseUpdate, rootCauseSignal, {
    validate: validateRootCause,
    apply: (r, via) => {
      recordRootCause(r, via);
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
    const found = pre.applied?.[0];
    const leftovers = found
      ? await db.compareLive('evidence', found)
      : await rb.step('evidence', async () => ({
          same: true,
          extra: [],
          missing: [],
          reference: 'none: the database has no alembic revision',
          revision: '',
        }));
    const result = (
      outcome: MigrationFailedFindings['outcome'],
      healthy: boolean,
      summary: string[],
      f: Partial<MigrationFailedFindings> & { rehearsal: Rehearsal },
    ): RunbookResult<MigrationFailedFindings> => ({
      runbook: 'migration-failed',
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
    const leftoverLine = leftovers.same
      ? `The live database matches a fresh build of ${found ?? 'its revision'}: no leftovers of a failed revision.`
      : `The live database differs from a fresh build of its revision ${found}: ${leftovers.extra.length} object(s) a failed revision left behind (${leftovers.extra.slice(0, 3).join('; ')}), ${leftovers.missing.length} missing.`;

    if (input.dryRun) {
      const file = await rb.step(
        'dry-run-copy',
        async () => (await act.pgDumpBackup(input.target, { name: `dry-run-${db.live}-${Date.now()}` })).path,
      );
      const scratch = await db.scratchFromBackup('dry-run-restore', file);
      const rehearsal = await db.rehearse(
        'rehearse-downgrade',
        scratch,
        { direction: 'downgrade', revision: pre.toRevision },
        { tryCleanup: true },
      );
      await db.dropManaged('cleanup', [scratch]);
      return result(
        'dry-run',
        rehearsal.clean,
        [
          `Dry run: nothing was changed on ${db.live}.`,
          leftoverLine,
          describeRehearsal(rehearsal, 'a restore of a fresh dump'),
          rehearsal.clean
            ? `Would run: freeze writes ⛔, snapshot, dump, downgrade ⛔ to ${pre.toRevision}${rehearsal.cleanup.length ? ` and drop ${rehearsal.cleanup.length} leftover(s)` : ''}, verify, unfreeze.`
            : `The downgrade would not repair it: the run would propose restoring ${pre.restoreSource ?? '(no snapshot or backup: give one with backup)'} ⛔.`,
        ],
        { rehearsal },
      );
    }

    await rb.gate('freeze-writes', {
      prompt: `Freeze writes to ${db.live} (target ${input.target}) to repair the failed migration? ${db.freezeWhat} ${leftoverLine}`,
      evidence: {
        method: target.freezeWrites ?? 'read-only',
        writerServices: target.writerServices,
        database: db.live,
        foundRevision: pre.applied,
        toRevision: pre.toRevision,
        toRevisionFrom: pre.toRevisionFrom,
        leftovers,
        heads: pre.heads,
        restoreSource: pre.restoreSource ?? null,
      },
    });
    const settings = await db.recordSettings(); // before the freeze: the database as its users know it
    const freeze = await db.freeze();
    const undoPoint = await db.undoPoint('undo-point', settings.allowConnections);
    const rehearsal = await db.rehearse(
      'rehearse-downgrade',
      undoPoint.snapshot.name,
      { direction: 'downgrade', revision: pre.toRevision },
      { tryCleanup: true },
    );

    let verify: (SchemaDiff & { revision: string }) | undefined;
    if (rehearsal.clean) {
      await rb.gate('downgrade', {
        prompt: `Downgrade ${db.live} from ${found ?? 'no revision'} to ${pre.toRevision}${rehearsal.cleanup.length ? ` and drop ${rehearsal.cleanup.length} leftover(s) (${rehearsal.cleanup.join('; ')})` : ''}? ${describeRehearsal(rehearsal, `a clone of ${db.live}`)}`,
        evidence: {
          rehearsal,
          undoPoint: {
            snapshot: undoPoint.snapshot.name,
            dump: undoPoint.dump.path,
            manifestSha256: undoPoint.dump.manifestSha256,
          },
        },
      });
      const downgrade = await db.migrateLive('apply-downgrade', { direction: 'downgrade', revision: pre.toRevision });
      rb.compensate('put-back-undo-point', () => db.swapNow(undoPoint.snapshot.name, settings, 'abandoned', false));
      if (downgrade.ok && rehearsal.cleanup.length > 0) {
        await rb.step('drop-leftovers', () => act.pgExecute(input.target, { statements: rehearsal.cleanup }), {
          inputs: { statements: rehearsal.cleanup },
        });
      }
      verify = await db.compareLive('verify', pre.toRevision);
      const atRevision = downgrade.revisionAfter?.length === 1 && downgrade.revisionAfter[0] === pre.toRevision;
      if (downgrade.ok && atRevision && verify.same) {
        return finish(
          'downgraded',
          [
            `${db.live} downgraded from ${found} to ${pre.toRevision}${rehearsal.cleanup.length ? `, ${rehearsal.cleanup.length} leftover(s) dropped` : ''}; it now equals a fresh build of ${pre.toRevision}.`,
          ],
          { freeze, undoPoint, rehearsal, verify },
        );
      }
    }

    // The downgrade cannot repair it (the rehearsal or the live run says so): restore the pre-release state.
    const why = !rehearsal.clean
      ? describeRehearsal(rehearsal, `a clone of ${db.live}`)
      : `After the downgrade the live database is not a clean ${pre.toRevision}: ${verify?.extra.length ?? 0} extra, ${verify?.missing.length ?? 0} missing statement(s).`;
    const scratch = await rb.step(
      'restore-source',
      async (correction) => {
        const backup = (correction?.backup as string | undefined) ?? input.backup;
        if (backup) return { scratch: await db.restoreToScratch(backup), source: `backup ${backup}` };
        if (pre.releaseSnapshot)
          return {
            scratch: await db.copyToScratch(pre.releaseSnapshot),
            source: `pre-release snapshot ${pre.releaseSnapshot}`,
          };
        throw ApplicationFailure.nonRetryable(
          `Nothing to restore from: no release-migration snapshot of ${db.live} and no backup given. Retry this step with a correction {"backup": "<path of a pg_dump file or directory>"}, or reject to put the database back as it was found.`,
          'NoRestoreSource',
        );
      },
      {
        inputs: { backup: input.backup ?? null, releaseSnapshot: pre.releaseSnapshot ?? null },
        corrections: { backup: 'path of a pg_dump file or directory' },
      },
    );
    const lost = await db.lostRows('restore-evidence', scratch.scratch);
    await rb.gate('restore', {
      prompt: `${why} Restore ${db.live} from the ${scratch.source} (restored into ${scratch.scratch} and checked; swapped in by two renames, the current database kept under a dated name)? ${lostSummary(lost)}`,
      evidence: {
        why,
        source: scratch.source,
        scratch: scratch.scratch,
        lost,
        undoPoint: {
          snapshot: undoPoint.snapshot.name,
          dump: undoPoint.dump.path,
          manifestSha256: undoPoint.dump.manifestSha256,
        },
      },
    });
    const swapped = await db.swap('swap-in', scratch.scratch, settings, 'pre_restore', true);
    return finish(
      'restored',
      [
        why,
        `${db.live} restored from the ${scratch.source}; the database it replaced is kept as ${swapped.keptAs}. ${lostSummary(lost)}`,
      ],
      { freeze, undoPoint, rehearsal, verify, restore: { ...swapped, source: scratch.source, lost } },
    );

    async function finish(
      outcome: 'downgraded' | 'restored',
      lines: string[],
      f: Partial<MigrationFailedFindings> & { rehearsal: Rehearsal },
    ) {
      let reapplied: MigrationFailedFindings['reapplied'];
      if (input.reapply) {
        await rb.gate('reapply', {
          prompt: `Re-apply the migrations on ${db.live} (alembic upgrade head), now that the cause is fixed?`,
          evidence: { revision: (await act.pgAppliedRevision(input.target)).revisions, heads: pre.heads },
        });
        const up = await db.migrateLive('apply-reapply', { direction: 'upgrade', revision: 'head' });
        reapplied = { ok: up.ok, output: up.output, revisionAfter: up.revisionAfter };
        lines.push(
          up.ok
            ? `Re-applied: ${db.live} is at ${up.revisionAfter?.join(', ')}.`
            : `Re-applying FAILED (the cause is not fixed?): ${up.output}`,
        );
      }
      const smoke = await rb.step('smoke', () => act.smokeChecks(input.target));
      const smokeOk = smoke.every((s) => s.ok);
      lines.push(
        smoke.length === 0
          ? 'No smoke checks declared for this target.'
          : `Smoke checks: ${smoke.filter((s) => s.ok).length}/${smoke.length} passed${
              smokeOk
                ? ''
                : ` (failed: ${smoke
                    .filter((s) => !s.ok)
                    .map((s) => s.name)
                    .join(', ')})`
            }.`,
      );
      await db.unfreeze();
      lines.push(
        `Undo point kept for the target's retention: snapshot ${undoPoint.snapshot.name}, dump ${undoPoint.dump.path} (manifest sha256 ${undoPoint.dump.manifestSha256}).`,
      );
      await rb.unlockTarget(); // waiting for a note must not keep others from the target
      const deadline = input.rootCauseDeadline ?? '24h';
      const rc = await rb.step(
        'root-cause',
        async () =>
          (await rb.awaitInput(
            {
              input: 'root-cause',
              prompt: `The repair of ${input.target} is done (${outcome}). Write the root-cause note: what failed, why, and the permanent fix (runbook root-cause <run> --note "…", the console, or the API).`,
              deadline,
            },
            () => rootCause,
          )) ?? null,
        { inputs: { deadline } },
      );
      lines.push(
        rc
          ? `Root cause (${rc.by}): ${rc.note}`
          : 'No root-cause note was given before the deadline: add it to the incident ticket.',
      );
      return result(outcome, smokeOk && (reapplied?.ok ?? true), lines, {
        ...f,
        reapplied,
        smoke,
        rootCause: rc ?? undefined,
      });
    }
  });

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
