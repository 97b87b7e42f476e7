import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { findRunbook, parseRunbookInput } from '../runbooks/catalogue.js';
import { alertIntakeId } from '../contract/signing.js';
import type { TargetRegistry } from '../targets.js';
import type { AlertIntakeInput } from '../workflows/alert-intake.js';
import { alertSignal, type AlertInput } from '../contract/messages.js';
import { targetSpec } from './errors.js';
import { postToHooks, type Links } from './notify.js';

/** What a scheduled check found, as its run reports it. */
export interface CheckFinding {
  runbook: string;
  /** The schedule that started the run (`check-<runbook>-<target>`). */
  schedule: string;
  summary: string[];
}

export interface FindingReport {
  notified: number;
  /** The runbook the target escalates this check to, and the intake that starts (or already runs) it. */
  escalated?: { runbook: string; intake: string };
}

/**
 * A scheduled check that found a problem: the target's notify hooks are told, and where the target
 * declares `schedules.<check>.escalate`, that runbook is started through its alert intake with
 * signal-with-start, so repeated findings (and alerts) open one run while it is open.
 */
export function createCheckActivities(
  targets: TargetRegistry,
  temporal: () => Promise<Client>,
  intakeTaskQueue: string,
  links: Links,
) {
  return {
    async reportFinding(target: string, f: CheckFinding): Promise<FindingReport> {
      const runId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      const spec = targetSpec(targets, target);
      const initiator = `schedule:${f.schedule}`;
      const { sent } = await postToHooks(
        targets,
        links,
        target,
        {
          event: 'check-failed',
          runbook: f.runbook,
          target,
          initiator,
          phase: 'diagnosing',
          message: f.summary.join('\n'),
        },
        runId,
      );
      const escalate = spec.schedules?.[f.runbook]?.escalate;
      if (escalate === undefined) return { notified: sent };
      const def = findRunbook(escalate);
      const intake = alertIntakeId(escalate, target);
      const intakeInput: AlertIntakeInput = {
        runbook: escalate,
        workflowType: def.workflowType,
        target,
        input: parseRunbookInput(def, {}),
      };
      // No signature: the worker admits the run it opens by finding this check run in Temporal (activities/schedule-admission.ts).
      const alert: AlertInput = {
        alertname: 'ScheduledCheckFailed',
        status: 'firing',
        labels: { runbook: escalate, runbook_target: target, check: f.runbook, schedule: f.schedule },
        summary: f.summary.join(' '),
        startsAt: new Date().toISOString(),
        fingerprint: runId,
        postedBy: initiator,
        start: { via: 'schedule', checkRun: runId, expiresAt: '', signature: '' },
      };
      const client = await temporal();
      await client.workflow.signalWithStart('alertIntake', {
        workflowId: intake,
        taskQueue: intakeTaskQueue,
        args: [intakeInput],
        signal: alertSignal,
        signalArgs: [alert],
      });
      return { notified: sent, escalated: { runbook: escalate, intake } };
    },
  };
}
