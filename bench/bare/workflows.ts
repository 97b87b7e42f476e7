/**
 * The bare-Temporal baseline of bench/approvals.ts: the shape of our approval-drill with nothing of
 * ours around it (no runbook wrapper, journal, search attributes, policy or notify activity):
 * start → one activity → wait for a decision (signal or update) → one activity.
 * Bundled by the bench with bundleWorkflowCode into a prebuilt bundle, as ours is; run by
 * bench/bare/worker.js, plain JavaScript on plain node, as our compiled worker is.
 */
import { condition, defineSignal, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';

/** What bench/bare/worker.js registers. */
export interface BareActivities {
  /** The first activity: the bench counts a start when it runs. */
  first(): Promise<void>;
  /** The activity after the decision: returns when it began on the worker (Date.now()). */
  next(decision: string): Promise<{ decision: string; startedAtMs: number }>;
}

const { first, next } = proxyActivities<BareActivities>({ startToCloseTimeout: '1 minute' });

export const bareDecideSignal = defineSignal<[string]>('decide');
export const bareDecideUpdate = defineUpdate<string, [string]>('decideUpdate');

export async function bareApproval(): Promise<{ decision: string; startedAtMs: number }> {
  let decision: string | undefined;
  setHandler(bareDecideSignal, (d) => {
    decision = d;
  });
  setHandler(bareDecideUpdate, (d) => {
    decision = d;
    return d;
  });
  await first();
  await condition(() => decision !== undefined);
  return next(decision!);
}
