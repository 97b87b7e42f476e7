import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Admission, GatePolicyDefaults, NotifyEvent, TargetInfo } from '../activities/index.js';
import { actMessage, verify } from '../contract/signing.js';
import { activitiesFor } from './activity-options.js';
import { DecisionRefused, Gates, GateClosed } from './gates.js';
import { twinHandlers } from './twin.js';
import { failureMessage, Journal } from './journal.js';
import {
  abortSignal,
  abortUpdate,
  alertSignal,
  journalQuery,
  statusQuery,
  type AbortInput,
} from '../contract/messages.js';
import { countCompensation, countRunEnded, countRunStarted } from './metrics.js';
import { policyStep, recoveryGate, type Procedure } from '../contract/procedure.js';
import { parseDuration } from '../util/duration.js';
import type { AwaitedInput, Channel, Decision, GateView, RunbookInput } from '../contract/types.js';
import { recoveryPlan, type FailedAttempt } from './recovery-texts.js';

/** Runs started before the worker admitted runs (kept histories): unsigned messages allowed, v1 decision signatures. */
const legacyAdmission: Admission = {
  channel: { via: 'temporal', signed: false },
  initiator: 'unknown',
  unsignedDecisions: 'allow',
  signatures: 1,
};

/**
 * What every runbook is built from: `step` (a journaled activity call), `gate` (a human
 * decision), `compensate` (an undo registered after a change), and `run` (the body, with abort
 * and compensation handled in one place). Usage reads like the procedure:
 *
 *   const rb = runbook(procedure, input); // procedure: the runbook's steps.ts
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
  /** After the first change, the step may be skipped at its recovery gate; this is its result then. */
  skip?: () => T;
  /** The correction fields the body reads on a retry, and what each is: the recovery gate names them. */
  corrections?: Record<string, string>;
}

/** A step's body; on a retry from its recovery gate it gets the approver's correction. */
export type StepBody<T> = (correction?: Record<string, unknown>) => Promise<T>;

export interface GateOptions {
  prompt: string;
  evidence?: unknown;
  /** The runbook's policy for this gate; the target's `policy` overrides it. */
  policy?: GatePolicyDefaults;
  recovery?: { skippable: boolean };
}

export type Runbook = ReturnType<typeof runbook>;

export function runbook(procedure: Procedure, input: RunbookInput) {
  const name = procedure.name;
  const journal = new Journal(name, input);
  const act = activitiesFor(input);
  const compensations: Array<{ name: string; fn: () => Promise<unknown> }> = [];
  let currentStep: string | undefined;
  let abortRequest: AbortInput | undefined;
  let body: CancellationScope | undefined;
  // Learned from the first gate's policy: a target without webhooks costs no notify activities.
  let notifies: boolean | undefined;
  /** How this run was started and what its later messages must carry; set by `admit` before the first step. */
  let admission: Admission | undefined;
  /** A person's input the run waits for (not a gate): shown by the status query, phase awaiting-input. */
  let awaiting: AwaitedInput | undefined;

  const notify = async (event: NotifyEvent['event'], gate?: GateView, message?: string, awaited?: AwaitedInput) => {
    if (notifies === false) return;
    try {
      await act.notify(input.target, {
        event,
        runbook: name,
        target: input.target,
        initiator: journal.initiator,
        phase: journal.phase,
        gate: gate && {
          gate: gate.gate,
          prompt: gate.prompt,
          deadline: gate.deadline,
          planDigest: gate.planDigest,
          approvers: gate.policy.approvers,
        },
        message,
        ...(awaited ? { awaiting: awaited } : {}),
      });
    } catch (err) {
      // A notification that cannot be sent must not block the runbook; it is journaled instead.
      journal.add({
        kind: 'note',
        step: `notify:${event}`,
        actor: 'worker',
        outcome: 'failed',
        error: failureMessage(err),
      });
    }
  };
  const gates = new Gates(
    journal,
    (event, gate) => notify(event, gate),
    () => admission?.signatures ?? 2,
  );

  setHandler(statusQuery, () => ({
    runbook: name,
    target: input.target,
    phase: journal.phase,
    initiator: journal.initiator,
    dryRun: input.dryRun ?? false,
    currentStep,
    pendingGates: gates.pending(),
    ...(awaiting ? { awaiting } : {}),
  }));
  setHandler(journalQuery, () => journal.entries);
  // Alerts for this target and runbook while the run is open (forwarded by the alert intake).
  setHandler(alertSignal, (a) => {
    const { start: _credential, ...alert } = a ?? {};
    journal.add({
      kind: 'alert',
      step: 'alert',
      actor: typeof a?.postedBy === 'string' ? a.postedBy : 'alertmanager',
      outcome: 'ok',
      inputs: { alertname: a?.alertname, status: a?.status },
      evidence: alert,
    });
  });

  /**
   * An abort or a root-cause note: signed by the API (over run, person and words), or refused
   * (journaled) where the target denies unsigned decisions. Returns the channel to journal.
   */
  function authorize(
    kind: 'abort' | 'root-cause',
    req: { by: string; signature?: string; expiresAt?: string },
    text: string,
    via: 'update' | 'signal',
  ): Channel {
    const a = admission;
    const refuse = (reason: string): never => {
      journal.add({
        kind: 'refusal',
        step: kind,
        actor: req.by,
        outcome: 'refused',
        error: reason,
        channel: { via, signed: false },
      });
      throw ApplicationFailure.nonRetryable(reason, DecisionRefused);
    };
    if (!a) return refuse(`This run is still being admitted: send the ${kind} again in a moment.`);
    const info = workflowInfo();
    const signed =
      typeof req.signature === 'string' &&
      typeof req.expiresAt === 'string' &&
      a.publicKey !== undefined &&
      Date.parse(req.expiresAt) >= Date.now() &&
      verify(
        actMessage({
          kind,
          workflowId: info.workflowId,
          runId: info.runId,
          by: req.by,
          text,
          expiresAt: req.expiresAt,
        }),
        req.signature,
        a.publicKey,
      );
    // A run started before admission existed has no key to check with: its signature counts as none (such runs allow unsigned ones).
    if (!signed && req.signature && a.publicKey !== undefined)
      refuse(
        `The ${kind}'s signature does not match this run, person and text, or it has expired: send it again through the API or the \`runbook\` CLI.`,
      );
    if (!signed && a.unsignedDecisions === 'deny') {
      refuse(
        `Unsigned ${kind === 'abort' ? 'aborts' : 'root-cause notes'} are not accepted for target "${input.target}": send it through the API or the \`runbook\` CLI with RUNBOOK_API set (they sign), or set policy.unsignedDecisions: allow for this target.`,
      );
    }
    return { via, signed };
  }

  const requestAbort = (req: AbortInput, via: 'update' | 'signal') => {
    validateAbort(req); // again: another abort may have come first while this one waited
    const channel = authorize('abort', req, req.reason, via);
    abortRequest = req;
    journal.add({ kind: 'abort', step: 'abort', actor: req.by, outcome: 'aborted', comment: req.reason, channel });
    body?.cancel();
  };
  /** An abort sent while the run is being admitted waits for it: whether it must be signed depends on the target. */
  const onAbort = (req: AbortInput, via: 'update' | 'signal'): void | Promise<void> => {
    if (admission) return requestAbort(req, via);
    return condition(() => admission !== undefined).then(() => requestAbort(req, via));
  };
  const validateAbort = (req: AbortInput) => {
    if (
      typeof req !== 'object' ||
      req === null ||
      typeof req.by !== 'string' ||
      !req.by.trim() ||
      typeof req.reason !== 'string' ||
      !req.reason.trim()
    ) {
      throw new Error('An abort is one JSON object: {"by": "<person>", "reason": "<why>"}.');
    }
    if (abortRequest) throw new Error(`This run is already being aborted (by ${abortRequest.by}).`);
    if (journal.phase === 'completed' || journal.phase === 'failed' || journal.phase === 'aborted')
      throw new Error(`This run has already ended (${journal.phase}).`);
  };
  twinHandlers(journal, abortUpdate, abortSignal, {
    validate: validateAbort,
    apply: (req, via) => {
      const done = onAbort(req, via);
      return done ? done.then(() => ({ aborting: true as const })) : { aborting: true as const };
    },
    step: () => 'abort',
  });

  // Each declared gate comes with its policy step; each declared step with its recovery gate.
  const declared = new Set([
    'admit',
    'release-lock',
    ...procedure.steps.flatMap((p) =>
      p.kind === 'gate' ? [p.id, policyStep(p.id)] : [p.id, recoveryGate(p.id), policyStep(recoveryGate(p.id))],
    ),
  ]);
  const changing = new Set(procedure.steps.filter((p) => p.changes).map((p) => p.id));
  let locked = false;
  /** Set once a step that changes the target has succeeded: from then on failures park. */
  let changedTarget = false;
  const mustBeDeclared = (id: string) => {
    if (!declared.has(id))
      throw ApplicationFailure.nonRetryable(
        `Runbook "${name}" runs "${id}", which its procedure (src/runbooks/${name}/steps.ts) does not declare.`,
        'RunbookBug',
      );
  };

  async function attempt<T>(
    stepName: string,
    fn: StepBody<T>,
    opts: StepOptions<T>,
    correction?: Record<string, unknown>,
  ): Promise<{ ok: true; result: T } | { ok: false; error: unknown }> {
    const entry = journal.add({
      kind: 'step',
      step: stepName,
      actor: 'worker',
      outcome: 'running',
      inputs: correction ? { ...opts.inputs, correction } : opts.inputs,
    });
    currentStep = stepName;
    const where = { runbook: name, target: input.target, step: stepName };
    log.info(`Step ${stepName} started`, where);
    try {
      const result = await fn(correction);
      journal.close(entry, { outcome: 'ok', evidence: opts.evidence ? opts.evidence(result) : result });
      log.info(`Step ${stepName} ok`, { ...where, outcome: 'ok', durationMs: entry.durationMs });
      return { ok: true, result };
    } catch (err) {
      journal.close(entry, { outcome: isCancellation(err) ? 'aborted' : 'failed', error: failureMessage(err) });
      log.warn(`Step ${stepName} ${entry.outcome}: ${entry.error}`, {
        ...where,
        outcome: entry.outcome,
        durationMs: entry.durationMs,
      });
      if (isCancellation(err)) throw err;
      return { ok: false, error: err };
    } finally {
      currentStep = undefined;
    }
  }

  /**
   * A journaled step. Before the run's first change a failure fails the run; after it, the step
   * parks at a recovery gate: retry (with a correction), skip (where allowed) or reject to abort.
   */
  async function step<T>(stepName: string, fn: StepBody<T>, opts: StepOptions<T> = {}): Promise<T> {
    mustBeDeclared(stepName);
    if (journal.phase === 'starting') journal.setPhase('diagnosing');
    let outcome = await attempt(stepName, fn, opts);
    const failed: FailedAttempt[] = [];
    let correction: Record<string, unknown> | undefined;
    while (!outcome.ok) {
      const message = failureMessage(outcome.error);
      if (!changedTarget) throw ApplicationFailure.nonRetryable(`Step "${stepName}" failed: ${message}`, 'StepFailed');
      failed.push({ error: message, correction });
      const [decision] = (
        await gate(recoveryGate(stepName), {
          ...recoveryTexts(stepName, failed, opts.skip !== undefined, opts.corrections),
          policy: { fourEyes: false, deadline: '4h' },
          recovery: { skippable: opts.skip !== undefined },
        })
      ).slice(-1);
      if (decision?.action === 'skip' && opts.skip) {
        journal.add({
          kind: 'note',
          step: stepName,
          actor: decision.by,
          outcome: 'ok',
          comment: `Skipped: ${decision.comment ?? 'no reason given'}`,
        });
        return opts.skip();
      }
      correction = decision?.correction;
      outcome = await attempt(stepName, fn, opts, correction);
    }
    if (changing.has(stepName)) changedTarget = true;
    return outcome.result;
  }

  /**
   * The recovery gate's prompt and evidence. Runs recorded before the gate counted its failures
   * keep the text they were decided on (a decision's plan digest covers it); new ones record the patch.
   */
  function recoveryTexts(
    stepName: string,
    failed: FailedAttempt[],
    skippable: boolean,
    corrections?: Record<string, string>,
  ): { prompt: string; evidence: unknown } {
    const message = failed[failed.length - 1]!.error;
    if (!patched('recovery-repeats')) {
      return {
        prompt: `Step "${stepName}" failed after its retries, after this run had changed ${input.target}: ${message} Retry it (with a correction if needed)${skippable ? ', skip it' : ''}, or reject to abort and undo.`,
        evidence: { step: stepName, error: message },
      };
    }
    return recoveryPlan({ step: stepName, target: input.target, skippable, corrections }, failed);
  }

  async function gate(id: string, opts: GateOptions): Promise<Decision[]> {
    mustBeDeclared(id);
    const policy = await step(policyStep(id), () => act.gatePolicy(input.target, opts.policy ?? {}), {
      inputs: { gate: id, runbookDefaults: opts.policy ?? {} },
    });
    notifies = policy.notifies;
    return gates.wait(id, {
      prompt: opts.prompt,
      evidence: opts.evidence,
      policy: policy.policy,
      publicKey: policy.publicKey,
      recovery: opts.recovery,
    });
  }

  /**
   * Waits, until its deadline, for a person's input that is not a gate decision (the root-cause
   * note): the run is `waiting` meanwhile (phase awaiting-input), says what for in its status, and
   * notifies the target's hooks. Returns the input, or undefined at the deadline.
   */
  async function awaitInput<T>(
    what: { input: AwaitedInput['input']; prompt: string; deadline: string },
    received: () => T | undefined,
  ): Promise<T | undefined> {
    const ms = parseDuration(what.deadline);
    // Runs recorded before this waited without saying so (no phase change, no notification).
    if (!patched('awaiting-input')) {
      await condition(() => received() !== undefined, ms);
      return received();
    }
    const openedAt = new Date();
    awaiting = {
      input: what.input,
      prompt: what.prompt,
      openedAt: openedAt.toISOString(),
      deadline: new Date(openedAt.getTime() + ms).toISOString(),
    };
    const before = journal.phase;
    journal.setPhase('awaiting-input');
    try {
      if (received() === undefined) await notify('input-needed', undefined, what.prompt, awaiting);
      await condition(() => received() !== undefined, ms);
      return received();
    } finally {
      awaiting = undefined;
      journal.setPhase(before);
    }
  }

  /** One change at a time per target: refused at once, naming the run that holds the lock. */
  async function lockTarget(): Promise<void> {
    await step('lock-target', () => act.acquireTargetLock(input.target, name), { inputs: { target: input.target } });
    locked = true;
  }

  /** The run's first step: the target resolved by name on the worker (hosts, routing; its credentials checked there, never returned). */
  function resolveTarget(): Promise<TargetInfo> {
    return step('resolve-target', () => act.describeTarget(input.target));
  }

  async function releaseTarget(): Promise<void> {
    if (!locked) return;
    await CancellationScope.nonCancellable(() =>
      step('release-lock', () => act.releaseTargetLock(input.target)).catch(() => undefined),
    );
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
        countCompensation(name, c.name, 'ok');
        done.push(c.name);
      } catch (err) {
        journal.close(entry, { outcome: 'failed', error: failureMessage(err) });
        countCompensation(name, c.name, 'failed');
        done.push(`${c.name} (FAILED: ${failureMessage(err)})`);
      }
    }
    return done;
  }

  /**
   * Before the first step: the worker checks the input against the API's schema and the start's
   * signature against the target's policy (a run started from the Temporal UI or a raw client
   * meets the same rules as one from the API). Runs recorded before this existed replay without it.
   */
  async function admit(): Promise<void> {
    if (!patched('admit-runs')) {
      admission = legacyAdmission;
      return;
    }
    const info = workflowInfo();
    const req = {
      runbook: name,
      input: { ...input } as Record<string, unknown>,
      workflowId: info.workflowId,
      parentWorkflowId: info.parent?.workflowId,
      startedAt: info.runStartTime.toISOString(),
      repeated: info.attempt > 1 || info.cronSchedule !== undefined || info.continuedFromExecutionRunId !== undefined,
    };
    const admitted = await step('admit', () => act.admitRun(req), {
      inputs: { initiator: journal.initiator, via: input.start?.via ?? 'temporal' },
      evidence: (a) => ({ channel: a.channel, initiator: a.initiator }),
    });
    const entry = journal.entries.filter((e) => e.step === 'admit').pop();
    if (entry) entry.channel = admitted.channel;
    admission = admitted;
    countRunStarted(name, input.target, admitted.channel.via, admitted.channel.signed);
  }

  async function run<R>(fn: () => Promise<R>): Promise<R> {
    try {
      const result = await CancellationScope.cancellable(async () => {
        body = CancellationScope.current();
        await admit();
        return fn();
      });
      await releaseTarget();
      journal.setPhase('completed');
      countRunEnded(name, input.target, 'completed');
      await notify('run-ended', undefined, 'completed');
      await condition(allHandlersFinished);
      return result;
    } catch (err) {
      if (!(err instanceof GateClosed) && !isCancellation(err)) {
        await releaseTarget();
        journal.setPhase('failed');
        // A start the worker did not admit (unsigned where denied, bad input…) never counted as started.
        countRunEnded(name, input.target, admission ? 'failed' : 'refused');
        await CancellationScope.nonCancellable(() => notify('run-ended', undefined, `failed: ${failureMessage(err)}`));
        throw err;
      }
      gates.abortOpen();
      const why =
        err instanceof GateClosed
          ? err.message
          : abortRequest
            ? `Aborted by ${abortRequest.by}: ${abortRequest.reason}`
            : 'Cancelled from Temporal.';
      const undone = await CancellationScope.nonCancellable(runCompensations);
      await releaseTarget();
      journal.setPhase('aborted');
      countRunEnded(name, input.target, 'aborted');
      const state = undone.length
        ? `Compensations ran, in reverse: ${undone.join(', ')}.`
        : 'Nothing had been changed; nothing to undo.';
      await CancellationScope.nonCancellable(() => notify('run-ended', undefined, `aborted: ${why} ${state}`));
      await condition(allHandlersFinished);
      if (isCancellation(err) && !abortRequest) throw err; // a Temporal cancel ends as Cancelled
      throw ApplicationFailure.nonRetryable(
        `${why} ${state}`,
        err instanceof GateClosed ? `Gate${err.gate.status === 'expired' ? 'Expired' : 'Rejected'}` : 'RunbookAborted',
      );
    }
  }

  return {
    /** The runbook's name, from its procedure: what its result and journal say. */
    name,
    journal,
    act,
    step,
    gate,
    awaitInput,
    compensate,
    run,
    lockTarget,
    resolveTarget,
    authorize,
    /** Releases the target's lock early, when what is left (a note, a confirmation) changes nothing. */
    unlockTarget: releaseTarget,
    phase: (p: Parameters<Journal['setPhase']>[0]) => journal.setPhase(p),
  };
}
