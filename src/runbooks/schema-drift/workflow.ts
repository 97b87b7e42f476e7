import { ApplicationFailure, patched, uuid4 } from '@temporalio/workflow';
import type { DriftReport, TargetInfo } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { databasePreflight, databaseSafety, type Rehearsal, type UndoPoint } from '../shared/database-safety.js';
import { GateClosed } from '../../engine/gates.js';
import { describeRehearsal } from '../shared/database-texts.js';
import { runbook } from '../../engine/runbook.js';
import { applyRevisionGate, retryPlan } from './texts.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { SchemaDriftInput } from './definition.js';

/**
 * Seed 000 "Desincronización de Base de Datos (Schema Drift)": detect drift with alembic's
 * autogenerate against the app's models (in a scratch copy of the app's tree); none → done.
 * Otherwise: undo point · generate the revision (never a drop) · rehearse it on a clone ·
 * apply ⛔ · verify no drift remains · retry the operation that was failing · hand back the
 * revision file as an artifact, and end only when someone confirms it is committed ⛔ (until it
 * is, the next deploy fails with "Can't locate revision", and release-migration refuses).
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

const TYPES_NOTE =
  'alembic 1.8 does not compare column types by default (compare_type is off): a column whose type changed is not reported as drift.';

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
    const refusedLine = drift.refused.length
      ? `Refused (never generated): ${drift.refused.length} drop(s) autogenerate proposed for objects outside the models: ${drift.refused.join('; ')}.`
      : undefined;
    if (!drift.ops) {
      return {
        runbook: 'schema-drift',
        target: input.target,
        healthy: true,
        summary: [
          `No drift: ${target.postgres!.database} matches the app's models.`,
          ...(refusedLine ? [refusedLine] : []),
          TYPES_NOTE,
        ],
        findings: findings('no-drift'),
      };
    }
    if (input.dryRun) {
      return {
        runbook: 'schema-drift',
        target: input.target,
        healthy: false,
        summary: [
          `Drift found (dry run, nothing changed): ${drift.ops}`,
          ...(refusedLine ? [refusedLine] : []),
          'Would run: snapshot, dump, generate the revision, rehearse it on a clone, apply ⛔, verify, retry the failing operation, confirm the commit ⛔.',
          TYPES_NOTE,
        ],
        findings: findings('dry-run'),
      };
    }

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
      ? await rb.step('rehearse-verify', async () => {
          const clone = await db.copyToScratch(undoPoint.snapshot.name);
          try {
            await host.alembicMigrate(input.target, { direction: 'upgrade', revision: revId, database: clone, appDir });
            return (
              await host.alembicDrift(input.target, {
                appDir,
                mode: 'detect',
                revId: `${revId}_check`,
                message: 'check',
                database: clone,
              })
            ).ops;
          } finally {
            await act.pgDropManaged(input.target, clone);
          }
        })
      : 'not checked: the revision failed';
    const rehearsal = { ...rehearsed, driftAfter: driftOnClone };
    if (!rehearsed.ran || driftOnClone !== '') {
      return {
        runbook: 'schema-drift',
        target: input.target,
        healthy: false,
        summary: [
          describeRehearsal(rehearsed, 'a clone'),
          `Drift left on the clone: ${driftOnClone || 'none'}.`,
          `Nothing was changed on ${db.live}.`,
          TYPES_NOTE,
        ],
        findings: findings('rehearsal-failed', { undoPoint, generated, rehearsal }),
      };
    }

    await rb.gate(
      'apply-revision',
      applyRevisionGate({ revId, live: db.live, generated, rehearsed, rehearsal, refusedLine, undoPoint, retry }),
    );
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
    for (let asked = 0; commit === undefined && asked < 3; asked++) {
      try {
        const [approval] = await rb.gate('confirm-commit', {
          prompt: `Commit the generated migration to the app's repository (${generated.file?.split('/').pop()}; the file is saved at ${generated.artifact}), then approve with the commit id as the comment. Until it is committed the next deploy fails with "Can't locate revision ${revId}", and release-migration refuses this database.`,
          evidence: {
            file: generated.file?.split('/').pop(),
            artifact: generated.artifact,
            content: generated.content,
            revision: revId,
          },
          policy: {
            fourEyes: false,
            approvers: ['role:operator', 'role:approver'],
            remindAfter: '1h',
            deadline: input.commitDeadline ?? '7d',
          },
        });
        const id = approval?.comment?.trim() ?? '';
        if (/^[0-9a-f]{7,40}$/.test(id)) commit = { id, by: approval!.by };
        else
          rb.journal.add({
            kind: 'note',
            step: 'confirm-commit',
            actor: approval?.by ?? 'unknown',
            outcome: 'refused',
            error: `"${id}" is not a commit id (7 to 40 hex characters); asked again.`,
          });
      } catch (err) {
        if (!(err instanceof GateClosed)) throw err;
        commit = { missing: `not confirmed (${err.gate.status}): ${err.message}` };
      }
    }
    commit ??= { missing: 'no commit id was given after three requests' };
    const committed = 'id' in commit ? commit : undefined;
    return {
      runbook: 'schema-drift',
      target: input.target,
      healthy: driftAfter.ops === '' && retried.ok && committed !== undefined,
      summary: [
        `Drift repaired on ${db.live}: applied ${revId} (${applied.revisionAfter?.join(', ')}): ${generated.ops.replace(/\s+/g, ' ')}`,
        driftAfter.ops === '' ? 'No drift remains.' : `Drift remains: ${driftAfter.ops}`,
        `Retried the failing operation (${retried.how}): ${retried.ok ? 'it works now' : `it still fails: ${'error' in retried ? retried.error : ''}`}.`,
        committed
          ? `Migration file committed as ${committed.id} (confirmed by ${committed.by}).`
          : `The migration file is NOT confirmed committed (${'missing' in commit ? commit.missing : ''}): commit ${generated.artifact} before the next deploy.`,
        ...(refusedLine ? [refusedLine] : []),
        TYPES_NOTE,
      ],
      findings: findings('applied', { undoPoint, generated, rehearsal, applied, driftAfter, retried, commit }),
    };
  });

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
