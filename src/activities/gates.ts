import { ApplicationFailure } from '@temporalio/common';
import type { TargetRegistry } from '../targets.js';
import { parseDuration } from '../util/duration.js';
import type { GatePolicy } from '../workflows/types.js';
import { FailureType, targetFailure } from './errors.js';

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

export function createGateActivities(targets: TargetRegistry, decisionPublicKey: string | undefined) {
  return {
    /**
     * The policy a gate runs under: built-in defaults, then the runbook's, then the target's
     * `policy` (loaded here because workflows cannot read files; the result is journaled).
     */
    async gatePolicy(target: string, runbook: GatePolicyDefaults): Promise<{ policy: GatePolicy; publicKey?: string; notifies: boolean }> {
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
        throw ApplicationFailure.nonRetryable(`Gate policy for target "${target}" is invalid: ${(err as Error).message}. Fix policy in ${targets.file}.`, FailureType.targetConfig);
      }
    },
  };
}

function strip<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
