/**
 * Names that tie a scheduled check's runs to their schedule. Pure: the client, the worker's
 * admission and the workflows all read them the same way.
 */

/** One schedule per (runbook, target): `check-<runbook>-<target>`. */
export function scheduleIdFor(runbook: string, target: string): string {
  return `check-${runbook}-${target}`;
}

/** The initiator of every run a schedule starts (what RunbookInitiator shows in the Temporal UI). */
export function scheduleInitiator(scheduleId: string): string {
  return `schedule:${scheduleId}`;
}

/** The schedule named by a run's initiator, if a schedule started it. */
export function scheduleOfInitiator(initiator: string | undefined): string | undefined {
  return initiator?.startsWith('schedule:') ? initiator.slice('schedule:'.length) : undefined;
}

/** Temporal names each scheduled run `<action's workflow id>-<scheduled time, RFC 3339 UTC>`: the schedule's id, or undefined. */
export function scheduleOfRun(workflowId: string): string | undefined {
  const m = /^(check-.+)-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.exec(workflowId);
  return m?.[1];
}

/** A schedule's start signature admits its runs for as long as the schedule exists: it has no expiry. */
export const SCHEDULE_SIGNATURE_EXPIRY = 'never';
