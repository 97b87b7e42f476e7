import { ApplicationFailure, patched, uuid4 } from '@temporalio/workflow';
import type { DriftReport, TargetInfo } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import {
  databasePreflight,
  databaseSafety,
  type DatabaseSafety,
  type Rehearsal,
  type UndoPoint,
} from '../shared/database-safety.js';
import { GateClosed } from '../../engine/gates.js';
import { runbook } from '../../engine/runbook.js';
import {
  applyRevisionGate,
  confirmCommitGate,
  dryRunSummary,
  noDriftSummary,
  notACommitId,
  refusedDrops,
  rehearsalFailedSummary,
  repairedSummary,
  retryPlan,
} from './texts.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { SchemaDriftInput } from './definition.js';

/**
 * Seed 000 "Desincronización de Base de Datos (Schema Drift)". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export interface SchemaDriftFindings {
  outcome: 'no-drift' | 'applied' | 'rehearsal-failed' | 'dry-run';
  revision: string[] | null;
  drift: DriftReport;
  undoPoint?: UndoPoint;
  generated?: DriftReport;
  rehearsal?: Rehearsal & { driftAfter: string };
  applied?: { ok: boolean; output: string; revisionAfter: string[] | null };
  driftAfter?: DriftReport;
  retried?: { ok: boolean; error?: string; how: string };
  commit?: { id: string; by: string } | { missing: string };
}

type HostActivities = ReturnType<typeof hostActivitiesFor>;

export async function schemaDrift(input: SchemaDriftInput): Promise<RunbookResult<SchemaDriftFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    const host = hostActivitiesFor(input, target);
    const pre = await rb.step('preflight', () => preflight(target));
    // Runs started before this check existed go on without it (their retry is still confined).
    const retryCheck =
      input.retrySql && patched('retry-sql-confined')
        ? await rb.step('check-retry', () => act.pgRetryCheck(input.target, input.retrySql!))
        : undefined;
    const retry = retryPlan(input, retryCheck?.role);
    const { appDir } = await rb.step('work-copy', () => host.alembicWorkCopy(input.target), {
      inputs: { from: 'alembic.dir', to: "a scratch copy (the app's tree is not touched)" },
    });
    const revId = `drift_${uuid4().replace(/-/g, '').slice(0, 10)}`;
    const drift = await rb.step(
      'detect-drift',
      () => host.alembicDrift(input.target, { appDir, mode: 'detect', revId, message: 'schema drift' }),
      { inputs: { against: "the app's models (env.py target_metadata)" } },
    );
    const findings = (outcome: SchemaDriftFindings['outcome'], f: Partial<SchemaDriftFindings> = {}) => ({
      outcome,
      revision: pre.applied,
      drift,
      ...f,
    });
    const refusedLine = refusedDrops(drift.refused);
    const end = (healthy: boolean, summary: string[], f: SchemaDriftFindings) => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings: f,
    });
    if (!drift.ops) return end(true, noDriftSummary(target.postgres!.database, refusedLine), findings('no-drift'));
    if (input.dryRun) return end(false, dryRunSummary(drift.ops, refusedLine), findings('dry-run'));

    await rb.lockTarget();
    const db = databaseSafety(rb, input, target);
    const settings = await db.recordSettings();
    const undoPoint = await db.undoPoint('undo-point', settings.allowConnections);
    const generated = await rb.step(
      'generate-revision',
      () => host.alembicDrift(input.target, { appDir, mode: 'generate', revId, message: 'schema drift' }),
      { evidence: (g) => ({ ...g, content: undefined }) },
    );
    const rehearsed = await db.rehearse(
      'rehearse-revision',
      undoPoint.snapshot.name,
      { direction: 'upgrade', revision: revId },
      { appDir },
    );
    const driftOnClone = rehearsed.ran
      ? await rb.step('rehearse-verify', () => driftOnCloneAfter(host, db, undoPoint.snapshot.name, revId, appDir))
      : 'not checked: the revision failed';
    const rehearsal = { ...rehearsed, driftAfter: driftOnClone };
    if (!rehearsed.ran || driftOnClone !== '') {
      const summary = rehearsalFailedSummary(rehearsed, driftOnClone, db.live);
      return end(false, summary, findings('rehearsal-failed', { undoPoint, generated, rehearsal }));
    }

    const facts = { revId, live: db.live, generated, rehearsed, rehearsal, refusedLine, undoPoint, retry };
    await rb.gate('apply-revision', applyRevisionGate(facts));
    const applied = await db.migrateLive('apply-generated', { direction: 'upgrade', revision: revId, appDir });
    rb.compensate('put-back-undo-point', () => db.swapNow(undoPoint.snapshot.name, settings, 'abandoned', false));
    if (!applied.ok)
      throw ApplicationFailure.nonRetryable(
        `The revision failed on ${db.live} although it passed on the clone: ${applied.output}`,
        'MigrationFailed',
      );
    const driftAfter = await rb.step('verify', () =>
      host.alembicDrift(input.target, { appDir, mode: 'detect', revId: `${revId}_verify`, message: 'verify' }),
    );
    const retried = await rb.step('retry-operation', async () => {
      if (input.retrySql) return { ...(await act.pgRetryAsApp(input.target, input.retrySql)), how: retry.how };
      if (input.retryHttp) return { ...(await act.httpProbe(input.retryHttp)), how: retry.how };
      return { ok: true, how: retry.how };
    });

    // The revision exists only in this run's copy and in alembic_version until it is committed.
    await rb.unlockTarget(); // waiting for the commit must not keep others from the target
    let commit: SchemaDriftFindings['commit'];
    const policy = {
      fourEyes: false,
      approvers: ['role:operator', 'role:approver'],
      remindAfter: '1h',
      deadline: input.commitDeadline ?? '7d',
    };
    for (let asked = 0; commit === undefined && asked < 3; asked++) {
      try {
        const [approval] = await rb.gate('confirm-commit', { ...confirmCommitGate({ revId, generated }), policy });
        const id = approval?.comment?.trim() ?? '';
        if (/^[0-9a-f]{7,40}$/.test(id)) commit = { id, by: approval!.by };
        else
          rb.journal.add({
            kind: 'note',
            step: 'confirm-commit',
            actor: approval?.by ?? 'unknown',
            outcome: 'refused',
            error: notACommitId(id),
          });
      } catch (err) {
        if (!(err instanceof GateClosed)) throw err;
        commit = { missing: `not confirmed (${err.gate.status}): ${err.message}` };
      }
    }
    commit ??= { missing: 'no commit id was given after three requests' };
    const repaired = { live: db.live, revId, generated, applied, driftAfter, retried, commit, refusedLine };
    const healthy = driftAfter.ops === '' && retried.ok && 'id' in commit;
    const more = { undoPoint, generated, rehearsal, applied, driftAfter, retried, commit };
    return end(healthy, repairedSummary(repaired), findings('applied', more));
  });

  /** The generated revision applied to a fresh clone of the undo point, and the drift left there ('' for none). */
  async function driftOnCloneAfter(
    host: HostActivities,
    db: DatabaseSafety,
    snapshot: string,
    revId: string,
    appDir: string,
  ) {
    const clone = await db.copyToScratch(snapshot);
    try {
      await host.alembicMigrate(input.target, { direction: 'upgrade', revision: revId, database: clone, appDir });
      const check = { appDir, mode: 'detect' as const, revId: `${revId}_check`, message: 'check', database: clone };
      return (await host.alembicDrift(input.target, check)).ops;
    } finally {
      await rb.act.pgDropManaged(input.target, clone);
    }
  }

  async function preflight(target: TargetInfo) {
    const { database, space, code, applied } = await databasePreflight('schema-drift', input, target, {
      freezes: false,
    });
    const atHead = applied?.length === code.heads.length && applied.every((r) => code.heads.includes(r));
    if (!atHead)
      throw ApplicationFailure.nonRetryable(
        `${database} is at ${applied?.join(', ') ?? 'no revision'}, not at the code's head (${code.heads.join(', ')}): drift is measured at head. Run release-migration first (or migration-failed if an upgrade broke).`,
        'NotAtHead',
      );
    return { applied, heads: code.heads, space };
  }
}
