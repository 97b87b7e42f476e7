import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { catalogue, parseRunbookInput } from '../runbooks/catalogue.js';
import { alertIntakeId, inputDigest, startMessage, verify } from '../contract/signing.js';
import type { TargetRegistry } from '../targets.js';
import { parseDuration } from '../util/duration.js';
import type { Channel, GatePolicy, StartCredential } from '../contract/types.js';
import { FailureType, targetFailure } from './errors.js';
import { admitScheduledStart } from './schedule-admission.js';

/** What the workflow knows of its own start, from Temporal (not from the input). */
export interface AdmitRequest {
  runbook: string;
  /** The run's whole input, as the workflow received it. */
  input: Record<string, unknown>;
  workflowId: string;
  /** A run an alert started: its intake, whose id the API signed. */
  parentWorkflowId?: string;
  /** When the run started: a start signature must not have expired by then. */
  startedAt: string;
  /** A retry, cron run or continuation of a run: a signed start admits one run, not its repetitions. */
  repeated?: boolean;
}

/** A run admitted by the worker: how it was started, and what later messages must carry. */
export interface Admission {
  channel: Channel;
  initiator: string;
  /** Aborts and root-cause notes without the API's signature are refused where this is deny. */
  unsignedDecisions: 'allow' | 'deny';
  publicKey?: string;
  /** 2 for runs admitted by the worker; 1 for runs started before admission existed (replay). */
  signatures: 1 | 2;
}

/** The failure type of a run the worker did not admit (tests and operators match on it). */
export const StartRefused = 'StartRefused';

/** A runbook's own gate policy; durations as in the targets file ('30s', '15m'). */
export interface GatePolicyDefaults {
  approvers?: string[];
  secondaryApprovers?: string[];
  approvalsNeeded?: number;
  fourEyes?: boolean;
  unsignedDecisions?: 'allow' | 'deny';
  requirePlanDigest?: boolean;
  remindAfter?: string;
  widenAfter?: string;
  deadline?: string;
}

export const builtInPolicy: Required<Omit<GatePolicyDefaults, 'remindAfter' | 'widenAfter'>> = {
  approvers: ['role:approver'],
  secondaryApprovers: [],
  approvalsNeeded: 1,
  fourEyes: true,
  unsignedDecisions: 'deny',
  requirePlanDigest: false,
  deadline: '1h',
};

export function createGateActivities(
  targets: TargetRegistry,
  decisionPublicKey: string | undefined,
  temporal: () => Promise<Client>,
) {
  return {
    /**
     * Before a run's first step: its input checked against the same schema the API uses, its
     * target known with its credentials present, and its start signed by the API unless the
     * target allows unsigned starts. The Temporal UI, the temporal CLI and raw gRPC reach the
     * workflow as easily as the API does; this is where all of them meet the same rules.
     */
    async admitRun(req: AdmitRequest): Promise<Admission> {
      const { target, initiator, dryRun, start, ...specific } = req.input;
      if (typeof target !== 'string' || !target)
        throw refuse('The run names no target: add "target" (a name from the targets file).');
      let spec;
      let policy;
      try {
        spec = targets.spec(target);
        policy = spec.policy ?? {};
        targets.checkSecrets(target);
      } catch (err) {
        return targetFailure(err);
      }
      if (initiator !== undefined && (typeof initiator !== 'string' || !initiator.trim()))
        throw refuse('"initiator" must be a person\'s name.');
      if (dryRun !== undefined && typeof dryRun !== 'boolean')
        throw refuse(`"dryRun" must be true or false, not ${JSON.stringify(dryRun)}.`);
      // The name comes from the workflow's code, not its input: a workflow outside the catalogue
      // (a test's own) has no schema to check against.
      const def = catalogue.find((r) => r.name === req.runbook);
      try {
        if (def) parseRunbookInput(def, specific);
      } catch (err) {
        throw refuse(
          `${(err as Error).message} The worker checks every input as the API does, however the run was started.`,
        );
      }
      const who = typeof initiator === 'string' ? initiator : 'unknown';
      if (typeof start === 'object' && start !== null && (start as StartCredential).via === 'schedule') {
        const scheduled = await admitScheduledStart({
          req,
          cred: start as StartCredential,
          target,
          spec,
          initiator: who,
          publicKey: decisionPublicKey,
          temporal,
        });
        if ('refused' in scheduled) throw refuse(scheduled.refused);
        return {
          channel: scheduled.channel,
          initiator: who,
          unsignedDecisions: policy.unsignedDecisions ?? builtInPolicy.unsignedDecisions,
          publicKey: decisionPublicKey,
          signatures: 2,
        };
      }
      const signed =
        start === undefined ? false : verifyStart(req, start as StartCredential, target, who, decisionPublicKey);
      if (signed && req.repeated) {
        throw refuse(
          "This run repeats a signed start (a retry policy, a cron schedule or continue-as-new set by whoever started it): the API's signature admits one run. Start each run through the API.",
        );
      }
      if (start !== undefined && !signed) {
        throw refuse(
          `The start's signature does not match this run, runbook, target, person and input, or had expired when the run started: start it again through the API or \`runbook start\`.`,
        );
      }
      if (!signed && (policy.unsignedStarts ?? 'deny') === 'deny') {
        throw refuse(
          `Target "${target}" accepts only runs started through the API (policy.unsignedStarts: deny), and this one came without its signature (Temporal UI, temporal CLI or another client): start it with the API, the console or \`runbook start\` (RUNBOOK_API set). Nothing was changed.`,
        );
      }
      return {
        channel: { via: signed ? (start as StartCredential).via : 'temporal', signed },
        initiator: who,
        unsignedDecisions: policy.unsignedDecisions ?? builtInPolicy.unsignedDecisions,
        publicKey: decisionPublicKey,
        signatures: 2,
      };
    },

    /**
     * The policy a gate runs under: built-in defaults, then the runbook's, then the target's
     * `policy` (loaded here because workflows cannot read files; the result is journaled).
     */
    async gatePolicy(
      target: string,
      runbook: GatePolicyDefaults,
    ): Promise<{ policy: GatePolicy; publicKey?: string; notifies: boolean }> {
      let fromTarget;
      let notifies;
      try {
        fromTarget = targets.spec(target).policy ?? {};
        notifies = (targets.spec(target).notify ?? []).length > 0;
      } catch (err) {
        return targetFailure(err);
      }
      const merged = { ...builtInPolicy, ...strip(runbook), ...strip(fromTarget) };
      try {
        const policy: GatePolicy = {
          approvers: merged.approvers,
          secondaryApprovers: merged.secondaryApprovers,
          approvalsNeeded: merged.approvalsNeeded,
          fourEyes: merged.fourEyes,
          unsignedDecisions: merged.unsignedDecisions,
          requirePlanDigest: merged.requirePlanDigest,
          remindAfterMs: merged.remindAfter === undefined ? undefined : parseDuration(merged.remindAfter),
          widenAfterMs: merged.widenAfter === undefined ? undefined : parseDuration(merged.widenAfter),
          deadlineMs: parseDuration(merged.deadline),
        };
        if (policy.approvalsNeeded < 1) throw new Error('approvalsNeeded must be at least 1');
        return { policy, publicKey: decisionPublicKey, notifies };
      } catch (err) {
        throw ApplicationFailure.nonRetryable(
          `Gate policy for target "${target}" is invalid: ${(err as Error).message}. Fix policy in ${targets.file}.`,
          FailureType.targetConfig,
        );
      }
    },
  };
}

function refuse(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, StartRefused);
}

function verifyStart(
  req: AdmitRequest,
  cred: StartCredential,
  target: string,
  initiator: string,
  publicKey: string | undefined,
): boolean {
  if (
    !publicKey ||
    typeof cred !== 'object' ||
    cred === null ||
    typeof cred.signature !== 'string' ||
    typeof cred.expiresAt !== 'string'
  )
    return false;
  if (!(Date.parse(cred.expiresAt) >= Date.parse(req.startedAt))) return false;
  // A run an alert starts is signed for its intake, the one per (runbook, target) the API signals.
  const workflowId =
    cred.via === 'alertmanager' ? req.parentWorkflowId : cred.via === 'api' ? req.workflowId : undefined;
  if (!workflowId || (cred.via === 'alertmanager' && workflowId !== alertIntakeId(req.runbook, target))) return false;
  const fields = {
    workflowId,
    runbook: req.runbook,
    target,
    initiator,
    via: cred.via,
    inputDigest: inputDigest(req.input),
    expiresAt: cred.expiresAt,
  };
  return verify(startMessage(fields), cred.signature, publicKey);
}

function strip<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
