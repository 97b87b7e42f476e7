import { createHmac } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TargetRegistry } from '../targets.js';
import { targetFailure } from './errors.js';

/** Gate openings, escalations, run ends and scheduled checks' findings, posted to the target's webhooks (JSON or Slack). */

export interface NotifyEvent {
  event:
    'gate-opened' | 'gate-reminder' | 'gate-widened' | 'gate-expired' | 'input-needed' | 'run-ended' | 'check-failed';
  runbook: string;
  target: string;
  initiator: string;
  phase: string;
  gate?: { gate: string; prompt: string; deadline: string; planDigest: string; approvers: string[] };
  message?: string;
  /** input-needed: what the run waits for (the root-cause note) and until when. */
  awaiting?: { input: string; prompt: string; deadline: string };
}

export interface Links {
  /** Our API's public base URL, e.g. http://127.0.0.1:8080. */
  api: string;
  temporalUi: string;
  namespace: string;
}

const headline: Record<NotifyEvent['event'], string> = {
  'gate-opened': 'Approval needed',
  'gate-reminder': 'Reminder: approval still needed',
  'gate-widened': 'Escalated: approval still needed',
  'gate-expired': 'Gate expired: aborting safely',
  'input-needed': 'Input needed',
  'run-ended': 'Runbook ended',
  'check-failed': 'Scheduled check found a problem',
};

export function notificationBody(e: NotifyEvent, runId: string, links: Links, format: 'json' | 'slack') {
  const urls = {
    api: `${links.api}/runs/${encodeURIComponent(runId)}`,
    console: `${links.api}/console/#/run/${encodeURIComponent(runId)}`,
    temporalUi: `${links.temporalUi}/namespaces/${encodeURIComponent(links.namespace)}/workflows/${encodeURIComponent(runId)}`,
  };
  if (format === 'json') return { ...e, runId, links: urls };
  const lines = [
    `*${headline[e.event]}* — \`${e.runbook}\` on \`${e.target}\` (run ${runId}, started by ${e.initiator})`,
    e.gate && `Gate *${e.gate.gate}*: ${e.gate.prompt}`,
    e.gate && `Deadline ${e.gate.deadline} · approvers ${e.gate.approvers.join(', ')} · plan ${e.gate.planDigest}`,
    e.awaiting ? `${e.awaiting.prompt} (until ${e.awaiting.deadline})` : e.message,
    `<${urls.console}|Console> · <${urls.temporalUi}|Temporal UI> · <${urls.api}|API>`,
  ].filter(Boolean);
  return { text: lines.join('\n') };
}

/**
 * Signs a notification as Stripe and Slack sign theirs: an HMAC-SHA256, with the hook's secret, of
 * `<timestamp>.<body>`, the timestamp in Unix seconds sent beside it, so a receiver can refuse an
 * old one replayed (README, "Notifications", has the receiver's side).
 */
export function signatureHeaders(secret: string, body: string, timestampS: number): Record<string, string> {
  const signature = createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex');
  return { 'x-runbook-timestamp': String(timestampS), 'x-runbook-signature': `v1=${signature}` };
}

/** Posts one event to every webhook of the target; throws (retryable) on the first that fails. */
export async function postToHooks(
  targets: TargetRegistry,
  links: Links,
  target: string,
  event: NotifyEvent,
  runId: string,
): Promise<{ sent: number }> {
  let hooks;
  try {
    // Every secret first: a hook whose signature cannot be made is never sent unsigned, and none is sent.
    hooks = (targets.spec(target).notify ?? []).map((h) => ({
      ...h,
      secret: h.secretEnv === undefined ? undefined : targets.notifySecret(target, h.secretEnv),
    }));
  } catch (err) {
    return targetFailure(err);
  }
  for (const { secret, ...hook } of hooks) {
    const body = JSON.stringify(notificationBody(event, runId, links, hook.format));
    const signed = secret === undefined ? {} : signatureHeaders(secret, body, Math.floor(Date.now() / 1000));
    const res = await fetch(hook.webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signed },
      body,
      signal: AbortSignal.timeout(5000),
    }).catch((err: Error) => err);
    const host = new URL(hook.webhook).host;
    if (res instanceof Error)
      throw ApplicationFailure.retryable(
        `Notification webhook at ${host} did not answer: ${res.message}`,
        'NotifyFailed',
      );
    if (!res.ok)
      throw ApplicationFailure.retryable(`Notification webhook at ${host} answered ${res.status}.`, 'NotifyFailed');
  }
  return { sent: hooks.length };
}

export function createNotifyActivities(targets: TargetRegistry, links: Links) {
  return {
    async notify(target: string, event: NotifyEvent): Promise<{ sent: number }> {
      return postToHooks(
        targets,
        links,
        target,
        event,
        Context.current().info.workflowExecution?.workflowId ?? 'unknown',
      );
    },
  };
}
