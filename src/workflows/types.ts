/** Inputs and results every runbook shares. Names only: no secrets ever enter a payload. */

export interface RetryInput {
  /** First retry interval of each step, e.g. '2 seconds'. Tests use short ones. */
  initialInterval?: string;
  /** Attempts per step before it counts as failed (bounded: never retry forever). */
  maximumAttempts?: number;
}

export interface RunbookInput {
  /** The target's name in the targets file, e.g. "prod-db". */
  target: string;
  /** Who started the run (the API's person, the CLI's $USER); "unknown" when started from the Temporal UI. */
  initiator?: string;
  /** Run every read-only step for real and report the destructive ones that would have run. */
  dryRun?: boolean;
  retry?: RetryInput;
}

export type Phase = 'starting' | 'diagnosing' | 'awaiting-approval' | 'acting' | 'completed' | 'failed' | 'aborted';

export interface JournalEntry {
  step: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  /** Who did it: "worker" for automated steps, the person for decisions. */
  actor: string;
  outcome: 'running' | 'ok' | 'failed';
  inputs?: Record<string, unknown>;
  evidence?: unknown;
  error?: string;
}

export interface RunStatus {
  runbook: string;
  target: string;
  phase: Phase;
  initiator: string;
  dryRun: boolean;
  currentStep?: string;
}

export interface RunbookResult<F = unknown> {
  runbook: string;
  target: string;
  /** false when the run found a problem that needs a person's attention. */
  healthy: boolean;
  /** One line a finding, readable as it is. */
  summary: string[];
  findings: F;
}
