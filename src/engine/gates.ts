import { ApplicationFailure, condition, log, workflowInfo } from '@temporalio/workflow';
import { planDigest, verifyDecision } from '../contract/signing.js';
import type { Journal } from './journal.js';
import { now } from './journal.js';
import { decideSignal, decideUpdate, type DecisionInput } from '../contract/messages.js';
import { countDecision, recordGateWait } from './metrics.js';
import { DecisionRefused, twinHandlers } from './twin.js';
import type { Decision, GatePolicy, GateView } from '../contract/types.js';

/**
 * Approval gates. Decisions arrive as the `decide` signal (Temporal UI, `temporal workflow
 * signal`) or the `decide` update (API, CLI: an immediate answer); one handler behind both.
 * The update's validator refuses only malformed input and unknown or closed gates (a rejected
 * update leaves no trace in history); every policy check runs in the handler, which journals the
 * refusal before the caller sees it.
 */

export { DecisionRefused } from './twin.js';

/** A gate that ended without approval; the runbook compensates and stops. */
export class GateClosed extends Error {
  constructor(
    readonly gate: GateView,
    message: string,
  ) {
    super(message);
    this.name = 'GateClosed';
  }
}

export interface OpenGate {
  prompt: string;
  evidence?: unknown;
  policy: GatePolicy;
  /** Verifies API signatures; a public key, from the policy activity. */
  publicKey?: string;
  /** A recovery gate (a step failed after the first change); skippable if the runbook allows. */
  recovery?: { skippable: boolean };
}

type Notify = (
  event: 'gate-opened' | 'gate-reminder' | 'gate-widened' | 'gate-expired',
  gate: GateView,
) => Promise<void>;

export class Gates {
  private readonly gates = new Map<string, GateView>();
  private readonly keys = new Map<string, string | undefined>();
  private readonly openings = new Map<string, number>();

  /** `signatures`: which decision signature this run verifies (1 only for runs recorded before v2). */
  constructor(
    private readonly journal: Journal,
    private readonly notify: Notify,
    private readonly signatures: () => 1 | 2 = () => 2,
  ) {
    twinHandlers(journal, decideUpdate, decideSignal, {
      validate: (input: DecisionInput) => this.validate(input),
      apply: (input, via) => this.decide(input, via),
      step: (input) => `gate:${String(input?.gate)}`,
    });
  }

  pending(): GateView[] {
    return [...this.gates.values()].filter((g) => g.status === 'open');
  }

  /** Closes every open gate (the run is being aborted). */
  abortOpen(): void {
    for (const g of this.pending()) g.status = 'aborted';
  }

  /** Opens a gate and waits for its outcome; returns the approvals, throws GateClosed otherwise. */
  async wait(id: string, open: OpenGate): Promise<Decision[]> {
    if (this.gates.get(id)?.status === 'open')
      throw ApplicationFailure.nonRetryable(
        `Gate "${id}" is already open: a runbook opens each gate once at a time.`,
        'RunbookBug',
      );
    const openedAtMs = Date.now();
    const opening = (this.openings.get(id) ?? 0) + 1;
    this.openings.set(id, opening);
    const view: GateView = {
      gate: id,
      kind: open.recovery ? 'recovery' : 'approval',
      ...(open.recovery ? { skippable: open.recovery.skippable } : {}),
      prompt: open.prompt,
      evidence: open.evidence ?? null,
      policy: open.policy,
      planDigest: planDigest(id, open.prompt, open.evidence ?? null),
      opening,
      openedAt: new Date(openedAtMs).toISOString(),
      deadline: new Date(openedAtMs + open.policy.deadlineMs).toISOString(),
      status: 'open',
      escalation: 'none',
      approvals: [],
    };
    this.gates.set(id, view);
    this.keys.set(id, open.publicKey);
    this.journal.setPhase('awaiting-approval');
    log.info(`Gate ${id} open until ${view.deadline}`, {
      runbook: this.journal.runbook,
      target: this.journal.input.target,
      gate: id,
      planDigest: view.planDigest,
    });
    const entry = this.journal.add({
      kind: 'gate',
      step: id,
      actor: 'worker',
      outcome: 'waiting',
      inputs: { prompt: open.prompt, planDigest: view.planDigest, policy: open.policy },
      evidence: open.evidence,
    });
    await this.notify('gate-opened', view);

    const closed = () => view.status !== 'open';
    const stages: Array<{ atMs: number; escalate: () => Promise<void> }> = [];
    const { remindAfterMs, widenAfterMs, deadlineMs } = open.policy;
    if (remindAfterMs !== undefined && remindAfterMs < deadlineMs) {
      stages.push({ atMs: remindAfterMs, escalate: () => this.escalate(view, 'reminded', 'gate-reminder') });
    }
    if (widenAfterMs !== undefined && widenAfterMs < deadlineMs) {
      stages.push({ atMs: widenAfterMs, escalate: () => this.escalate(view, 'widened', 'gate-widened') });
    }
    stages.sort((a, b) => a.atMs - b.atMs);
    for (const stage of stages) {
      if (await condition(closed, Math.max(1, openedAtMs + stage.atMs - Date.now()))) break;
      await stage.escalate();
    }
    if (!closed() && !(await condition(closed, Math.max(1, openedAtMs + deadlineMs - Date.now())))) {
      view.status = 'expired';
      this.journal.add({
        kind: 'escalation',
        step: id,
        actor: 'worker',
        outcome: 'expired',
        comment: `No decision by ${view.deadline}: taking the safe outcome (abort with compensation). Never approved by timeout.`,
      });
      await this.notify('gate-expired', view);
    }

    recordGateWait(this.journal.runbook, this.journal.input.target, id, view.status, Date.now() - openedAtMs);
    log.info(
      `Gate ${id} ${view.status}${view.approvals.length ? ` by ${view.approvals.map((a) => a.by).join(', ')}` : view.rejection ? ` by ${view.rejection.by}` : ''}`,
      { runbook: this.journal.runbook, target: this.journal.input.target, gate: id, outcome: view.status },
    );
    this.journal.close(entry, {
      outcome:
        view.status === 'approved'
          ? 'approved'
          : view.status === 'open'
            ? 'waiting'
            : view.status === 'rejected'
              ? 'rejected'
              : view.status === 'expired'
                ? 'expired'
                : 'aborted',
      actor: view.approvals.map((a) => a.by).join(', ') || view.rejection?.by || 'worker',
    });
    if (view.status === 'approved') {
      // Another branch may still wait at its own gate.
      this.journal.setPhase(this.pending().length > 0 ? 'awaiting-approval' : 'acting');
      return view.approvals;
    }
    if (view.status === 'rejected') {
      const r = view.rejection!;
      throw new GateClosed(view, `Gate "${id}" was rejected by ${r.by}${r.comment ? `: ${r.comment}` : '.'}`);
    }
    throw new GateClosed(
      view,
      view.status === 'expired'
        ? `Gate "${id}" expired at ${view.deadline} without enough approvals (${view.approvals.length} of ${view.policy.approvalsNeeded}).`
        : `Gate "${id}" was closed by an abort.`,
    );
  }

  private async escalate(
    view: GateView,
    level: 'reminded' | 'widened',
    event: 'gate-reminder' | 'gate-widened',
  ): Promise<void> {
    view.escalation = level;
    const who =
      level === 'widened'
        ? `widened to ${view.policy.secondaryApprovers.join(', ') || '(no secondary approvers)'}`
        : `reminded ${view.policy.approvers.join(', ')}`;
    this.journal.add({
      kind: 'escalation',
      step: view.gate,
      actor: 'worker',
      outcome: 'sent',
      comment: `Gate still open: ${who}.`,
    });
    await this.notify(event, view);
  }

  /** Shape and gate state only: runs for updates before anything is written to history. */
  private validate(input: DecisionInput): void {
    if (typeof input !== 'object' || input === null)
      throw new Error('A decision is one JSON object: {"gate", "decision": "approve"|"reject", "by", "comment"}.');
    if (typeof input.gate !== 'string' || !input.gate)
      throw new Error('The decision names no gate: add "gate" (see pendingGates in the run\'s status).');
    if (input.decision !== 'approve' && input.decision !== 'reject')
      throw new Error(`"decision" must be "approve" or "reject", not ${JSON.stringify(input.decision)}.`);
    if (typeof input.by !== 'string' || !input.by.trim()) throw new Error('The decision names no person: add "by".');
    const gate = this.gates.get(input.gate);
    if (!gate) {
      const open = this.pending().map((g) => g.gate);
      throw new Error(
        `There is no gate "${input.gate}" in this run${open.length ? ` (open: ${open.join(', ')})` : ' and no gate is open now'}.`,
      );
    }
    if (gate.status !== 'open')
      throw new Error(`Gate "${input.gate}" is already closed (${gate.status}); decisions are no longer accepted.`);
  }

  private decide(input: DecisionInput, via: 'update' | 'signal'): GateView {
    const gate = this.gates.get(input.gate)!;
    const signed = this.isSigned(input, gate);
    const channel = { via, signed };
    const refuse = (reason: string): never => {
      this.journal.add({
        kind: 'refusal',
        step: gate.gate,
        actor: input.by,
        outcome: 'refused',
        error: reason,
        comment: input.comment,
        channel,
      });
      throw ApplicationFailure.nonRetryable(reason, DecisionRefused);
    };
    const p = gate.policy;
    const target = this.journal.input.target;
    if (!signed && input.signature)
      refuse(
        "The decision's signature does not match this run, gate opening, plan, person and comment, or it has expired: decide again through the API or `runbook approve`.",
      );
    if (!signed && p.unsignedDecisions === 'deny') {
      refuse(
        `Unsigned decisions are not accepted for target "${target}": decide through the API or \`runbook approve\` (they sign), or set policy.unsignedDecisions: allow for this target.`,
      );
    }
    if (p.requirePlanDigest && !input.planDigest)
      refuse(
        `Gate "${gate.gate}" requires the plan digest you reviewed: send "planDigest": "${gate.planDigest}" after reading its evidence.`,
      );
    if (input.planDigest && input.planDigest !== gate.planDigest) {
      refuse(
        `The plan changed since you reviewed it (you saw ${input.planDigest}, the gate now shows ${gate.planDigest}): read the gate's evidence again and decide on the current plan.`,
      );
    }
    if (gate.kind === 'approval' && (input.action || input.correction))
      refuse(`Gate "${gate.gate}" approves a step; "action" and "correction" belong to recovery gates.`);
    if (input.action === 'skip' && !gate.skippable)
      refuse(
        `The failed step of gate "${gate.gate}" cannot be skipped: retry it (with a correction if needed) or reject to abort.`,
      );
    const isInitiator = input.by === this.journal.initiator;
    if (input.decision === 'approve' && p.fourEyes && isInitiator) {
      refuse(`${input.by} started this run and may not approve it (four-eyes): another approver must.`);
    }
    const allowed = gate.escalation === 'widened' ? [...p.approvers, ...p.secondaryApprovers] : p.approvers;
    const roles = input.roles ?? [];
    const may =
      allowed.length === 0 ||
      allowed.some((a) => (a.startsWith('role:') ? roles.includes(a.slice(5)) : a === input.by));
    if (!may && !(input.decision === 'reject' && isInitiator)) {
      refuse(`${input.by} may not decide gate "${gate.gate}": allowed are ${allowed.join(', ')}.`);
    }
    const decision: Decision = {
      by: input.by,
      decision: input.decision,
      comment: input.comment,
      at: now(),
      channel,
      ...(gate.kind === 'recovery' && input.decision === 'approve'
        ? { action: input.action ?? 'retry', ...(input.correction ? { correction: input.correction } : {}) }
        : {}),
    };
    if (input.decision === 'approve' && gate.approvals.some((a) => a.by === input.by)) {
      this.journal.add({
        kind: 'note',
        step: gate.gate,
        actor: input.by,
        outcome: 'ok',
        comment: `${input.by} approved again; counted once (${gate.approvals.length} of ${p.approvalsNeeded}).`,
        channel,
      });
      return gate;
    }
    this.journal.add({
      kind: 'decision',
      step: gate.gate,
      actor: input.by,
      outcome: input.decision === 'approve' ? 'approved' : 'rejected',
      comment: input.comment,
      channel,
      ...(decision.action ? { inputs: { action: decision.action, correction: decision.correction } } : {}),
    });
    countDecision(this.journal.runbook, gate.gate, input.decision, via, signed);
    if (input.decision === 'reject') {
      gate.rejection = decision;
      gate.status = 'rejected';
    } else {
      gate.approvals.push(decision);
      if (gate.approvals.length >= p.approvalsNeeded) gate.status = 'approved';
    }
    return gate;
  }

  private isSigned(input: DecisionInput, gate: GateView): boolean {
    const key = this.keys.get(gate.gate);
    if (!input.signature || !input.expiresAt || !key) return false;
    if (Date.parse(input.expiresAt) < Date.now()) return false;
    const info = workflowInfo();
    const fields = {
      workflowId: info.workflowId,
      runId: info.runId,
      gate: gate.gate,
      planDigest: input.planDigest ?? '',
      decision: input.decision,
      by: input.by,
      roles: input.roles ?? [],
      expiresAt: input.expiresAt,
      action: input.action,
      correction: input.correction,
      comment: input.comment,
      opening: gate.opening,
    };
    // Runs started before v2 (in flight at an upgrade) take today's API's v2 and their own history's v1.
    return (
      verifyDecision(fields, input.signature, key, 2) ||
      (this.signatures() === 1 && verifyDecision(fields, input.signature, key, 1))
    );
  }
}
