import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  setHandler,
} from '@temporalio/workflow';
import type { GatePolicyDefaults, NotifyEvent } from '../activities/index.js';
import { activitiesFor } from './activity-options.js';
import { Gates, GateClosed } from './gates.js';
import { failureMessage, Journal } from './journal.js';
import { abortSignal, abortUpdate, journalQuery, statusQuery, type AbortInput } from './messages.js';
import { policyStep, procedures } from './procedures.js';
import type { Decision, GateView, RunbookInput } from './types.js';

/**
 * What every runbook is built from: `step` (a journaled activity call), `gate` (a human
 * decision), `compensate` (an undo registered after a change), and `run` (the body, with abort
 * and compensation handled in one place). Usage reads like the procedure:
 *
 *   const rb = runbook('migration-failed', input);
 *   return rb.run(async () => {
 *     await rb.gate('freeze-writes', { prompt: `Stop writes to ${input.target}?` });
 *     ...
 *   });
 */

export interface StepOptions<T> {
  /** Inputs by name, recorded with the step (names only, no credentials). */
  inputs?: Record<string, unknown>;
  /** What to keep as evidence; default: the step's result. */
  evidence?: (result: T) => unknown;
}

export interface GateOptions {
  prompt: string;
  evidence?: unknown;
  /** The runbook's policy for this gate; the target's `policy` overrides it. */
  policy?: GatePolicyDefaults;
}

export type Runbook = ReturnType<typeof runbook>;

export function runbook(name: string, input: RunbookInput) {
  const journal = new Journal(name, input);
  const act = activitiesFor(input);
  const compensations: Array<{ name: string; fn: () => Promise<unknown> }> = [];
  let currentStep: string | undefined;
  let abortRequest: AbortInput | undefined;
  let body: CancellationScope | undefined;
  // Learned from the first gate's policy: a target without webhooks costs no notify activities.
  let notifies: boolean | undefined;

  const notify = async (event: NotifyEvent['event'], gate?: GateView, message?: string) => {
    if (notifies === false) return;
    try {
      await act.notify(input.target, { event, runbook: name, target: input.target, initiator: journal.initiator, phase: journal.phase, gate: gate && { gate: gate.gate, prompt: gate.prompt, deadline: gate.deadline, planDigest: gate.planDigest, approvers: gate.policy.approvers }, message });
    } catch (err) {
      // A notification that cannot be sent must not block the runbook; it is journaled instead.
      journal.add({ kind: 'note', step: `notify:${event}`, actor: 'worker', outcome: 'failed', error: failureMessage(err) });
    }
  };
  const gates = new Gates(journal, (event, gate) => notify(event, gate));

  setHandler(statusQuery, () => ({
    runbook: name, target: input.target, phase: journal.phase, initiator: journal.initiator, dryRun: input.dryRun ?? false, currentStep, pendingGates: gates.pending(),
  }));
  setHandler(journalQuery, () => journal.entries);

  const requestAbort = (req: AbortInput, via: 'update' | 'signal') => {
    if (abortRequest) return;
    abortRequest = req;
    journal.add({ kind: 'abort', step: 'abort', actor: req.by, outcome: 'aborted', comment: req.reason, channel: { via, signed: false } });
    body?.cancel();
  };
  const validateAbort = (req: AbortInput) => {
    if (typeof req !== 'object' || req === null || typeof req.by !== 'string' || !req.by.trim() || typeof req.reason !== 'string' || !req.reason.trim()) {
      throw new Error('An abort is one JSON object: {"by": "<person>", "reason": "<why>"}.');
    }
    if (abortRequest) throw new Error(`This run is already being aborted (by ${abortRequest.by}).`);
    if (journal.phase === 'completed' || journal.phase === 'failed' || journal.phase === 'aborted') throw new Error(`This run has already ended (${journal.phase}).`);
  };
  setHandler(abortUpdate, (req) => { requestAbort(req, 'update'); return { aborting: true as const }; }, { validator: validateAbort });
  setHandler(abortSignal, (req) => {
    try {
      validateAbort(req);
      requestAbort(req, 'signal');
    } catch (err) {
      journal.add({ kind: 'refusal', step: 'abort', actor: String(req?.by ?? 'unknown'), outcome: 'refused', error: (err as Error).message, channel: { via: 'signal', signed: false } });
    }
  });

  const declared = new Set(['release-lock', ...(procedures[name] ?? []).flatMap((p) => (p.kind === 'gate' ? [p.id, policyStep(p.id)] : [p.id]))]);
  let locked = false;
  const mustBeDeclared = (id: string) => {
    if (!declared.has(id)) throw ApplicationFailure.nonRetryable(`Runbook "${name}" runs "${id}", which its procedure (src/workflows/procedures.ts) does not declare.`, 'RunbookBug');
  };

  async function step<T>(stepName: string, fn: () => Promise<T>, opts: StepOptions<T> = {}): Promise<T> {
    mustBeDeclared(stepName);
    if (journal.phase === 'starting') journal.setPhase('diagnosing');
    const entry = journal.add({ kind: 'step', step: stepName, actor: 'worker', outcome: 'running', inputs: opts.inputs });
    currentStep = stepName;
    try {
      const result = await fn();
      journal.close(entry, { outcome: 'ok', evidence: opts.evidence ? opts.evidence(result) : result });
      return result;
    } catch (err) {
      journal.close(entry, { outcome: isCancellation(err) ? 'aborted' : 'failed', error: failureMessage(err) });
      if (isCancellation(err)) throw err;
      throw ApplicationFailure.nonRetryable(`Step "${stepName}" failed: ${failureMessage(err)}`, 'StepFailed');
    } finally {
      currentStep = undefined;
    }
  }

  async function gate(id: string, opts: GateOptions): Promise<Decision[]> {
    mustBeDeclared(id);
    const policy = await step(policyStep(id), () => act.gatePolicy(input.target, opts.policy ?? {}), { inputs: { gate: id, runbookDefaults: opts.policy ?? {} } });
    notifies = policy.notifies;
    return gates.wait(id, { prompt: opts.prompt, evidence: opts.evidence, policy: policy.policy, publicKey: policy.publicKey });
  }

  /** One change at a time per target: refused at once, naming the run that holds the lock. */
  async function lockTarget(): Promise<void> {
    await step('lock-target', () => act.acquireTargetLock(input.target, name), { inputs: { target: input.target } });
    locked = true;
  }

  async function releaseTarget(): Promise<void> {
    if (!locked) return;
    await CancellationScope.nonCancellable(() => step('release-lock', () => act.releaseTargetLock(input.target)).catch(() => undefined));
    locked = false;
  }

  /** Registers the undo of a change just made; run in reverse if the run is rejected or aborted. */
  function compensate(stepName: string, fn: () => Promise<unknown>): void {
    compensations.push({ name: stepName, fn });
  }

  async function runCompensations(): Promise<string[]> {
    const done: string[] = [];
    for (const c of compensations.reverse()) {
      const entry = journal.add({ kind: 'compensation', step: c.name, actor: 'worker', outcome: 'running' });
      try {
        journal.close(entry, { outcome: 'ok', evidence: await c.fn() });
        done.push(c.name);
      } catch (err) {
        journal.close(entry, { outcome: 'failed', error: failureMessage(err) });
        done.push(`${c.name} (FAILED: ${failureMessage(err)})`);
      }
    }
    return done;
  }

  async function run<R>(fn: () => Promise<R>): Promise<R> {
    try {
      const result = await CancellationScope.cancellable(async () => {
        body = CancellationScope.current();
        if (abortRequest) body.cancel();
        return fn();
      });
      await releaseTarget();
      journal.setPhase('completed');
      await notify('run-ended', undefined, 'completed');
      await condition(allHandlersFinished);
      return result;
    } catch (err) {
      if (!(err instanceof GateClosed) && !isCancellation(err)) {
        await releaseTarget();
        journal.setPhase('failed');
        await CancellationScope.nonCancellable(() => notify('run-ended', undefined, `failed: ${failureMessage(err)}`));
        throw err;
      }
      gates.abortOpen();
      const why = err instanceof GateClosed ? err.message : abortRequest ? `Aborted by ${abortRequest.by}: ${abortRequest.reason}` : 'Cancelled from Temporal.';
      const undone = await CancellationScope.nonCancellable(runCompensations);
      await releaseTarget();
      journal.setPhase('aborted');
      const state = undone.length ? `Compensations ran, in reverse: ${undone.join(', ')}.` : 'Nothing had been changed; nothing to undo.';
      await CancellationScope.nonCancellable(() => notify('run-ended', undefined, `aborted: ${why} ${state}`));
      await condition(allHandlersFinished);
      if (isCancellation(err) && !abortRequest) throw err; // a Temporal cancel ends as Cancelled
      throw ApplicationFailure.nonRetryable(`${why} ${state}`, err instanceof GateClosed ? `Gate${err.gate.status === 'expired' ? 'Expired' : 'Rejected'}` : 'RunbookAborted');
    }
  }

  return { journal, act, step, gate, compensate, run, lockTarget, phase: (p: Parameters<Journal['setPhase']>[0]) => journal.setPhase(p) };
}
