import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { GateView, JournalEntry, RunStatus, StartCredential } from './types.js';

/**
 * Every runbook's messages. One JSON object each, as the Temporal UI's forms send. The signal and
 * the update named `decide` land in the same handler; the update answers at once.
 */

export interface DecisionInput {
  gate: string;
  decision: 'approve' | 'reject';
  /** The person deciding. */
  by: string;
  comment?: string;
  /** The plan digest the decider saw; a stale one is refused. */
  planDigest?: string;
  /** Roles of the decider (trusted only when signed, or where unsigned decisions are allowed). */
  roles?: string[];
  /** Ed25519 signature by the API over run, gate, digest, decision, person, roles, expiry. */
  signature?: string;
  expiresAt?: string;
  /** Recovery gates: what to do with the failed step (approve = retry by default; reject = abort). */
  action?: 'retry' | 'skip';
  /** Recovery gates, with retry: corrected input for the step (see the runbook's docs). */
  correction?: Record<string, unknown>;
}

export interface AbortInput {
  by: string;
  reason: string;
  /** The API's signature over run, person and reason (required where the target denies unsigned decisions). */
  signature?: string;
  expiresAt?: string;
}

/** The root-cause note a repair runbook asks for at its end (it goes into the timeline). */
export interface RootCauseInput {
  by: string;
  note: string;
  signature?: string;
  expiresAt?: string;
}

export const decideSignal = defineSignal<[DecisionInput]>('decide');
export const decideUpdate = defineUpdate<GateView, [DecisionInput]>('decide');
export const abortSignal = defineSignal<[AbortInput]>('abort');
export const abortUpdate = defineUpdate<{ aborting: true }, [AbortInput]>('abort');
export const statusQuery = defineQuery<RunStatus>('status');
export const journalQuery = defineQuery<JournalEntry[]>('journal');
export const rootCauseSignal = defineSignal<[RootCauseInput]>('rootCause');
export const rootCauseUpdate = defineUpdate<{ recorded: true }, [RootCauseInput]>('rootCause');

/** One Alertmanager alert, as forwarded to the run it started (journaled there). */
export interface AlertInput {
  alertname: string;
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  summary?: string;
  startsAt?: string;
  fingerprint?: string;
  /** Who posted it (the API token's person), and the API's signed start for the run it may start. */
  postedBy?: string;
  start?: StartCredential;
}
export const alertSignal = defineSignal<[AlertInput]>('alert');

/** The target lock's messages (target-lock.ts: one lock workflow per target, `target-lock-<target>`). */
export interface LockHolder {
  runId: string;
  runbook: string;
  since: string;
}

export const acquireLock = defineUpdate<{ granted: boolean; holder: LockHolder }, [{ runId: string; runbook: string }]>(
  'acquire',
);
export const releaseLock = defineSignal<[{ runId: string }]>('release');
export const lockHolderQuery = defineQuery<LockHolder | null>('holder');

export const lockWorkflowId = (target: string) => `target-lock-${target}`;
