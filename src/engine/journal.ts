import { ActivityFailure, TimeoutFailure, upsertSearchAttributes } from '@temporalio/workflow';
import { RunbookInitiator, RunbookName, RunbookPhase, RunbookTarget } from '../contract/search-attributes.js';
import type { JournalEntry, Phase, RunbookInput } from '../contract/types.js';

/**
 * The step journal: every step's who/what/when/evidence, and the run's phase, kept in the
 * search attributes so runs are findable in the Temporal UI (RunbookPhase="awaiting-approval").
 */
export class Journal {
  readonly entries: JournalEntry[] = [];
  readonly initiator: string;
  private current: Phase = 'starting';

  constructor(
    readonly runbook: string,
    readonly input: RunbookInput,
  ) {
    this.initiator = input.initiator ?? 'unknown';
    // Set here too, not only by our client: a run started from the Temporal UI must be findable as well.
    upsertSearchAttributes([
      { key: RunbookName, value: runbook },
      { key: RunbookTarget, value: input.target },
      { key: RunbookInitiator, value: this.initiator },
      { key: RunbookPhase, value: this.current },
    ]);
  }

  get phase(): Phase {
    return this.current;
  }

  setPhase(next: Phase): void {
    if (next === this.current) return;
    this.current = next;
    upsertSearchAttributes([{ key: RunbookPhase, value: next }]);
  }

  /** Appends an entry stamped with workflow time; returns it so the caller can close it later. */
  add(entry: Omit<JournalEntry, 'startedAt'> & { startedAt?: string }): JournalEntry {
    const full: JournalEntry = { startedAt: now(), ...entry };
    this.entries.push(full);
    return full;
  }

  close(entry: JournalEntry, fields: Partial<JournalEntry>): void {
    Object.assign(entry, fields);
    entry.endedAt = now();
    entry.durationMs = Date.parse(entry.endedAt) - Date.parse(entry.startedAt);
  }
}

/** Workflow time (deterministic inside a workflow). */
export const now = () => new Date().toISOString();

/** The operator-facing message of a failure: the activity's own words, not the wrapper's. */
export function failureMessage(err: unknown): string {
  if (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  ) {
    return `No worker picked up ${err.activityType} in time: no worker of ours polls the task queue this step runs on (the target's taskQueue, for steps on the target's host). Start a worker there with RUNBOOK_TASK_QUEUE set to that queue, then run again.`;
  }
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
