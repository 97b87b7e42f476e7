import { ApplicationFailure } from '@temporalio/workflow';
import type { FreezeResult, LostRows, SmokeResult, SwapResult, TargetInfo } from '../../activities/index.js';
import { databasePreflight, databaseSafety, type Rehearsal, type UndoPoint } from '../shared/database-safety.js';
import { GateClosed } from '../../engine/gates.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { ReleaseMigrationInput } from './definition.js';

/**
 * The guarded way to run a release's migrations, so that the seed's worst incident ("Migración
 * fallida") becomes a one-second rollback: freeze ⛔ (targets that declare a freeze) · pre-release
 * snapshot + verified dump · rehearse the upgrade on a clone ⛔ · upgrade · smoke · unfreeze. If the
 * upgrade or the smoke checks fail: swap the pre-release snapshot back in ⛔ (the failed database is
 * kept under a dated name), or reject to hand over to migration-failed. The snapshot's label records
 * the pre-release revision, which migration-failed takes as its default target revision.
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
    const result = (
      outcome: ReleaseMigrationFindings['outcome'],
      healthy: boolean,
      summary: string[],
      f: Partial<ReleaseMigrationFindings> & { rehearsal: Rehearsal },
    ): RunbookResult<ReleaseMigrationFindings> => ({
      runbook: 'release-migration',
      target: input.target,
      healthy,
      summary,
      findings: { outcome, fromRevision: pre.fromRevision, toRevision, ...f },
    });

    if (input.dryRun) {
      // Nobody is cut off: a fresh dump of the live database, restored into scratch, is the rehearsal's source.
      const scratch = await rb
        .step('dry-run-copy', async () => {
          const dump = await act.pgDumpBackup(input.target, { name: `dry-run-${db.live}-${Date.now()}` });
          return dump.path;
        })
        .then((file) => db.scratchFromBackup('dry-run-restore', file));
      const rehearsal = await db.rehearse('rehearse-upgrade', scratch, { direction: 'upgrade', revision: toRevision });
      await db.dropManaged('cleanup', [scratch]);
      return result(
        'dry-run',
        rehearsal.ran,
        [
          `Dry run: nothing was changed on ${db.live}.`,
          describeRehearsal(rehearsal, 'a restore of a fresh dump'),
          `Would run: ${target.freezeWrites ? 'freeze writes ⛔, ' : ''}snapshot, dump, rehearse on the snapshot, upgrade ⛔ to ${toRevision}, smoke checks${target.freezeWrites ? ', unfreeze' : ''}.`,
        ],
        { rehearsal },
      );
    }

    const settings = await db.recordSettings(); // before the freeze: the database as its users know it
    let freeze: FreezeResult | undefined;
    if (target.freezeWrites) {
      await rb.gate('freeze-writes', {
        prompt: `Freeze writes to ${db.live} (target ${input.target}) for the release to ${toRevision}? ${db.freezeWhat}`,
        evidence: {
          database: db.live,
          fromRevision: pre.fromRevision,
          toRevision,
          method: target.freezeWrites,
          writerServices: target.writerServices,
        },
      });
      freeze = await db.freeze();
    }
    const undoPoint = await db.undoPoint('pre-release', settings.allowConnections);
    const rehearsal = await db.rehearse('rehearse-upgrade', undoPoint.snapshot.name, {
      direction: 'upgrade',
      revision: toRevision,
    });
    // A production database may differ from a fresh build before any release (a DBA's index):
    // for an upgrade, the rehearsal must run; its schema comparison is evidence at the gate.
    if (!rehearsal.ran) {
      if (freeze) await db.unfreeze();
      return result(
        'rehearsal-failed',
        false,
        [
          describeRehearsal(rehearsal, `a clone of ${db.live}`),
          `Nothing was changed on ${db.live}: fix the migration and release again. The pre-release snapshot ${undoPoint.snapshot.name} and the dump ${undoPoint.dump.path} are kept for the target's retention.`,
        ],
        { freeze, undoPoint, rehearsal },
      );
    }

    await rb.gate('upgrade', {
      prompt: `Upgrade ${db.live} from ${pre.fromRevision?.join(', ') ?? 'no revision'} to ${toRevision}? Rehearsed on a clone of this very data: ${describeRehearsal(rehearsal, 'the clone')}`,
      evidence: {
        rehearsal,
        undoPoint: {
          snapshot: undoPoint.snapshot.name,
          dump: undoPoint.dump.path,
          manifestSha256: undoPoint.dump.manifestSha256,
        },
      },
    });
    const upgrade = await db.migrateLive('apply-upgrade', { direction: 'upgrade', revision: toRevision });
    const smoke = upgrade.ok ? await rb.step('smoke', () => act.smokeChecks(input.target)) : [];
    const failedSmoke = smoke.filter((s) => !s.ok);
    if (upgrade.ok && failedSmoke.length === 0) {
      if (freeze) await db.unfreeze();
      return result(
        'upgraded',
        true,
        [
          `${db.live} upgraded from ${pre.fromRevision?.join(', ') ?? 'no revision'} to ${upgrade.revisionAfter?.join(', ')} in ${upgrade.durationMs} ms (rehearsed first: ${rehearsal.durationMs} ms on a clone).`,
          `Smoke checks: ${smoke.length === 0 ? 'none declared for this target' : `${smoke.length} passed`}.`,
          `Rollback stays one swap away: snapshot ${undoPoint.snapshot.name} (and dump ${undoPoint.dump.path}, manifest sha256 ${undoPoint.dump.manifestSha256}) kept for the target's retention.`,
        ],
        { freeze, undoPoint, rehearsal, upgrade, smoke },
      );
    }

    // The release failed on the live database: propose the instant rollback.
    const why = upgrade.ok
      ? `smoke checks failed: ${failedSmoke.map((s) => `${s.name} (got ${s.got}, expected ${s.expected})`).join('; ')}`
      : `the upgrade failed at ${upgrade.revisionAfter?.join(', ') ?? 'no revision'}: ${upgrade.output}`;
    const lost = await db.lostRows('rollback-evidence', undoPoint.snapshot.name);
    try {
      await rb.gate('rollback', {
        prompt: `The release failed on ${db.live} (${why}). Roll back by swapping the pre-release snapshot ${undoPoint.snapshot.name} in (about a second; the failed database is kept under a dated name)? ${lostSummary(lost)} Reject to keep the failed database and repair forward with migration-failed.`,
        evidence: {
          failure: why,
          lost,
          snapshot: undoPoint.snapshot.name,
          snapshotRevision: undoPoint.snapshot.revision,
        },
        policy: { fourEyes: false },
      });
    } catch (err) {
      if (!(err instanceof GateClosed)) throw err;
      return result(
        'handed-over',
        false,
        [
          `The release failed on ${db.live}: ${why}.`,
          `Rollback ${err.gate.status} (${err.message}); the failed database stays live${freeze ? ' and writes stay frozen' : ''}. Run migration-failed on ${input.target}: its default target revision is ${pre.fromRevision?.join(', ') ?? 'the pre-release one'} (from snapshot ${undoPoint.snapshot.name}).`,
        ],
        { freeze, undoPoint, rehearsal, upgrade, smoke },
      );
    }
    const swapped = await db.swap('swap-back', undoPoint.snapshot.name, settings, 'failed', freeze !== undefined);
    if (freeze) await db.unfreeze();
    return result(
      'rolled-back',
      false,
      [
        `The release failed on ${db.live}: ${why}.`,
        `Rolled back: the pre-release snapshot is live again (${pre.fromRevision?.join(', ') ?? 'no revision'}); the failed database is kept as ${swapped.keptAs} for forensics.`,
        lostSummary(lost),
      ],
      { freeze, undoPoint, rehearsal, upgrade, smoke, rollback: { ...swapped, lost } },
    );
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

export function describeRehearsal(r: Rehearsal, on: string): string {
  if (!r.ran)
    return `The rehearsed ${r.plan} FAILED on ${on} after ${r.durationMs} ms: ${r.migration?.output ?? 'no output'}`;
  if (!r.clean)
    return `The rehearsed ${r.plan} ran on ${on} in ${r.durationMs} ms but the result differs from a fresh build of the revision: ${r.diff?.extra.length ?? 0} extra and ${r.diff?.missing.length ?? 0} missing statement(s)${r.notDroppable.length ? ` (not droppable safely: ${r.notDroppable.slice(0, 3).join('; ')})` : ''}.`;
  return `The rehearsed ${r.plan} ran on ${on} in ${r.durationMs} ms and the result equals a fresh build of the revision${r.cleanup.length ? ` after dropping ${r.cleanup.length} leftover(s)` : ''}; rows after: ${Object.entries(
    r.rowsAfter,
  )
    .filter(([t]) => t !== 'public.alembic_version')
    .map(([t, n]) => `${t.replace(/^public\./, '')} ${n}`)
    .join(', ')}.`;
}

export function lostSummary(lost: LostRows[]): string {
  const list = (ls: LostRows[]) =>
    ls
      .map((l) => `${l.table.replace(/^public\./, '')} ${l.rows}${l.newestInLive ? ` (newest ${l.newestInLive})` : ''}`)
      .join(', ');
  const written = lost.filter((l) => l.inBackup);
  const created = lost.filter((l) => !l.inBackup);
  const parts = [
    written.length
      ? `It would LOSE rows written since: ${list(written)}.`
      : 'No row written since in a table the backup has would be lost.',
  ];
  if (created.length)
    parts.push(
      `Tables the backup lacks (created since, e.g. by the failed release) go with their rows: ${list(created)}.`,
    );
  return parts.join(' ');
}
