import type { Client } from '@temporalio/client';
import { catalogue } from '../runbooks/catalogue.js';
import { scheduleIdFor, scheduleInitiator, scheduleOfRun } from '../contract/schedule-ids.js';
import { RunbookTarget } from '../contract/search-attributes.js';
import { alertIntakeId, inputDigest, startMessage, verify } from '../contract/signing.js';
import type { TargetSpec } from '../targets.js';
import type { Channel, StartCredential } from '../contract/types.js';
import type { AdmitRequest } from './gates.js';

/** How long after a scheduled check found a problem the run it escalated to may start. */
const ESCALATION_WINDOW_MS = 60 * 60_000;

export interface ScheduledStart {
  req: AdmitRequest;
  cred: StartCredential;
  target: string;
  spec: TargetSpec;
  initiator: string;
  publicKey?: string;
  temporal: () => Promise<Client>;
}

/**
 * A start that came through a schedule (`via: schedule`), admitted or refused (the reason is
 * returned). Two kinds: a scheduled check's own run, signed by the API for its schedule when the
 * schedule was created (no expiry: the schedule is the standing authorisation); and a run a
 * scheduled check escalated to through the alert intake, which carries no signature but names the
 * check run, which the worker finds in Temporal.
 */
export async function admitScheduledStart(s: ScheduledStart): Promise<{ channel: Channel } | { refused: string }> {
  return s.cred.checkRun === undefined ? admitCheckRun(s) : admitEscalation(s, s.cred.checkRun);
}

function admitCheckRun({
  req,
  cred,
  target,
  initiator,
  publicKey,
}: ScheduledStart): { channel: Channel } | { refused: string } {
  const schedule = scheduleIdFor(req.runbook, target);
  if (scheduleOfRun(req.workflowId) !== schedule || initiator !== scheduleInitiator(schedule)) {
    return {
      refused: `This run carries the signature of schedule ${schedule}, but it is not one of that schedule's runs (id ${req.workflowId}, initiator ${initiator}): start it with the API or \`runbook start\`.`,
    };
  }
  if (catalogue.find((r) => r.name === req.runbook)?.mutates !== false) {
    return {
      refused: `Runbook "${req.runbook}" changes its target, so no schedule may start it: start it with the API or \`runbook start\`.`,
    };
  }
  const signed =
    publicKey !== undefined &&
    typeof cred.signature === 'string' &&
    typeof cred.expiresAt === 'string' &&
    verify(
      startMessage({
        workflowId: schedule,
        runbook: req.runbook,
        target,
        initiator,
        via: 'schedule',
        inputDigest: inputDigest(req.input),
        expiresAt: cred.expiresAt,
      }),
      cred.signature,
      publicKey,
    );
  if (!signed) {
    return {
      refused: `Schedule ${schedule}'s signature does not match this runbook, target and input, or was made with another API key: delete the schedule and create it again through the API (runbook schedule delete ${schedule}; runbook schedule create …).`,
    };
  }
  return { channel: { via: 'schedule', signed: true } };
}

async function admitEscalation(
  { req, target, spec, initiator, temporal }: ScheduledStart,
  checkRun: string,
): Promise<{ channel: Channel } | { refused: string }> {
  const refuse = (why: string) => ({
    refused: `This run was started as the escalation of scheduled check run ${checkRun}, but ${why}. Nothing was changed.`,
  });
  if (req.parentWorkflowId !== alertIntakeId(req.runbook, target))
    return refuse(`it was not started by the alert intake ${alertIntakeId(req.runbook, target)}`);
  const schedule = scheduleOfRun(checkRun);
  const check = catalogue.find((r) => schedule === scheduleIdFor(r.name, target));
  if (!schedule || !check) return refuse(`that is not the run of a schedule on target "${target}"`);
  if (spec.schedules?.[check.name]?.escalate !== req.runbook)
    return refuse(`target "${target}" does not declare schedules.${check.name}.escalate: ${req.runbook}`);
  if (initiator !== scheduleInitiator(schedule))
    return refuse(`its initiator is ${initiator}, not ${scheduleInitiator(schedule)}`);
  const client = await temporal();
  const handle = client.workflow.getHandle(checkRun);
  const desc = await handle.describe().catch(() => undefined);
  if (!desc) return refuse('Temporal has no such run');
  if (desc.type !== check.workflowType || desc.typedSearchAttributes.get(RunbookTarget) !== target)
    return refuse(`that run is not ${check.name} on ${target}`);
  const age = Date.parse(req.startedAt) - desc.startTime.getTime();
  if (age < 0 || age > ESCALATION_WINDOW_MS) return refuse('that check ran more than an hour before this run started');
  // Only the check's own workflow code reports a finding, and only when it found a problem.
  const history = await handle.fetchHistory();
  const reported = (history.events ?? []).some(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'reportFinding',
  );
  if (!reported) return refuse('that run reported no problem');
  return { channel: { via: 'schedule', signed: false } };
}
