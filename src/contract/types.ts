/** Inputs and results every runbook shares. Names only: no credentials ever enter a payload. */

export interface RetryInput {
  /** First retry interval of each step, e.g. '2 seconds'. Tests use short ones. */
  initialInterval?: string;
  /** Attempts per step before it counts as failed (bounded: never retry forever). */
  maximumAttempts?: number;
  /** Start-to-close timeout of each short step (default 2 minutes): how long one attempt may run. */
  activityTimeout?: string;
  /** Heartbeat timeout of every step (default 10 seconds; the worker heartbeats while a step runs): how soon a step on a dead worker is retried. */
  heartbeatTimeout?: string;
  /** How long a step on the target's own task queue may wait for a worker to pick it up (default 5 minutes). */
  scheduleToStartTimeout?: string;
}

export interface RunbookInput {
  /** The target's name in the targets file, e.g. "prod-db". */
  target: string;
  /** Who started the run (the API's person, the CLI's $USER); "unknown" when started from the Temporal UI. */
  initiator?: string;
  /** Run every read-only step for real and report the destructive ones that would have run. */
  dryRun?: boolean;
  retry?: RetryInput;
  /** The API's signature over this start (run id, runbook, target, initiator, channel, input digest). */
  start?: StartCredential;
}

/** How the API proves it forwarded a start; the worker verifies it before the run's first step. */
export interface StartCredential {
  /**
   * The channel the start came through: `api` (API, console, `runbook start`), `alertmanager`, or
   * `schedule` (a scheduled check, signed when its schedule was created through the API; or a run a
   * scheduled check escalated to, which names that check run instead of carrying a signature).
   */
  via: 'api' | 'alertmanager' | 'schedule';
  expiresAt: string;
  signature: string;
  /** via schedule, escalations only: the scheduled check run that found the problem (the worker checks it in Temporal). */
  checkRun?: string;
}

/** How a start, decision, abort or note arrived, and whether the API signed it. */
export interface Channel {
  via: 'update' | 'signal' | 'api' | 'alertmanager' | 'schedule' | 'temporal';
  signed: boolean;
}

/** `awaiting-approval`: a gate is open; `awaiting-input`: a person's input other than a decision (a root-cause note). */
export type Phase =
  'starting' | 'diagnosing' | 'awaiting-approval' | 'awaiting-input' | 'acting' | 'completed' | 'failed' | 'aborted';

/** What a run waits for besides gates: a person's input (today the root-cause note), until its deadline. */
export interface AwaitedInput {
  input: 'root-cause';
  prompt: string;
  openedAt: string;
  deadline: string;
}

export type EntryKind =
  'step' | 'gate' | 'decision' | 'refusal' | 'escalation' | 'compensation' | 'abort' | 'note' | 'alert';

export interface JournalEntry {
  kind: EntryKind;
  /** The step or gate this entry is about. */
  step: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  /** Who did it: "worker" for automated steps, the person for decisions. */
  actor: string;
  outcome:
    'running' | 'ok' | 'failed' | 'waiting' | 'approved' | 'rejected' | 'expired' | 'refused' | 'aborted' | 'sent';
  inputs?: Record<string, unknown>;
  evidence?: unknown;
  error?: string;
  comment?: string;
  /** For starts, decisions, aborts and notes: how it arrived and whether the API signed it. */
  channel?: Channel;
}

/** How a gate may be decided. Set by the runbook, overridden per target (targets file `policy`). */
export interface GatePolicy {
  /** Names, or `role:<role>`; a decider must match one. */
  approvers: string[];
  /** Added to approvers once the gate has escalated past widenAfterMs. */
  secondaryApprovers: string[];
  approvalsNeeded: number;
  /** The run's initiator may not approve. */
  fourEyes: boolean;
  /** Decisions without a valid API signature (Temporal UI, temporal CLI). */
  unsignedDecisions: 'allow' | 'deny';
  requirePlanDigest: boolean;
  /** Escalation chain, each from the gate's opening: remind, widen, then the safe outcome. */
  remindAfterMs?: number;
  widenAfterMs?: number;
  deadlineMs: number;
}

export interface Decision {
  by: string;
  decision: 'approve' | 'reject';
  /** Recovery gates: retry the failed step (optionally with a correction) or skip it. */
  action?: 'retry' | 'skip';
  correction?: Record<string, unknown>;
  comment?: string;
  at: string;
  channel: Channel;
}

export interface GateView {
  gate: string;
  /** approval: before a dangerous step; recovery: a step failed after the first change. */
  kind: 'approval' | 'recovery';
  /** Recovery gates: whether the runbook allows skipping the failed step. */
  skippable?: boolean;
  prompt: string;
  evidence: unknown;
  policy: GatePolicy;
  planDigest: string;
  /** Which opening of this gate in the run (1, 2, …): signed decisions name it, so none carries over to a re-opened gate. */
  opening?: number;
  openedAt: string;
  deadline: string;
  status: 'open' | 'approved' | 'rejected' | 'expired' | 'aborted';
  escalation: 'none' | 'reminded' | 'widened';
  approvals: Decision[];
  rejection?: Decision;
}

export interface RunStatus {
  runbook: string;
  target: string;
  phase: Phase;
  initiator: string;
  dryRun: boolean;
  currentStep?: string;
  pendingGates: GateView[];
  /** Set while the run waits for a person's input that is not a gate decision. */
  awaiting?: AwaitedInput;
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
