import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { RunbookInitiator, RunbookName, RunbookPhase, RunbookTarget } from '../search-attributes.js';
import type { JournalEntry, Phase, RunbookInput, RunStatus } from './types.js';

/** The step journal: each step's who/what/when/evidence, queries over it, and search attributes. */

export const statusQuery = defineQuery<RunStatus>('status');
export const journalQuery = defineQuery<JournalEntry[]>('journal');

export interface StepOptions<T> {
  /** Inputs by name, recorded with the step (never secrets). */
  inputs?: Record<string, unknown>;
  /** What to keep as evidence; default: the step's result. */
  evidence?: (result: T) => unknown;
}

export interface Runbook {
  readonly journal: JournalEntry[];
  phase(phase: Phase): void;
  step<T>(name: string, fn: () => Promise<T>, opts?: StepOptions<T>): Promise<T>;
}

const now = () => new Date();

export function runbook(name: string, input: RunbookInput): Runbook {
  const journal: JournalEntry[] = [];
  const initiator = input.initiator ?? 'unknown';
  let phase: Phase = 'starting';
  let currentStep: string | undefined;

  setHandler(statusQuery, () => ({ runbook: name, target: input.target, phase, initiator, dryRun: input.dryRun ?? false, currentStep }));
  setHandler(journalQuery, () => journal);
  // Set here too, not only by our client: a run started from the Temporal UI must be findable as well.
  upsertSearchAttributes([
    { key: RunbookName, value: name },
    { key: RunbookTarget, value: input.target },
    { key: RunbookInitiator, value: initiator },
    { key: RunbookPhase, value: phase },
  ]);

  const setPhase = (next: Phase) => {
    if (next === phase) return;
    phase = next;
    upsertSearchAttributes([{ key: RunbookPhase, value: next }]);
  };

  return {
    journal,
    phase: setPhase,
    async step<T>(step: string, fn: () => Promise<T>, opts: StepOptions<T> = {}): Promise<T> {
      if (phase === 'starting') setPhase('diagnosing');
      const started = now();
      const entry: JournalEntry = { step, startedAt: started.toISOString(), actor: 'worker', outcome: 'running', inputs: opts.inputs };
      journal.push(entry);
      currentStep = step;
      try {
        const result = await fn();
        entry.outcome = 'ok';
        entry.evidence = opts.evidence ? opts.evidence(result) : result;
        return result;
      } catch (err) {
        const message = failureMessage(err);
        entry.outcome = 'failed';
        entry.error = message;
        setPhase('failed');
        throw ApplicationFailure.nonRetryable(`Step "${step}" failed: ${message}`, 'StepFailed');
      } finally {
        const ended = now();
        entry.endedAt = ended.toISOString();
        entry.durationMs = ended.getTime() - started.getTime();
        currentStep = undefined;
      }
    },
  };
}

/** The operator-facing message of a failure: the activity's own words, not the wrapper's. */
export function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
