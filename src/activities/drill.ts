import type { Decision } from '../contract/types.js';

export function createDrillActivities() {
  return {
    /** approval-drill's one step: touches nothing, returns what was decided, as the journal shows it. */
    async recordDrillDecision(
      target: string,
      approvals: Decision[],
    ): Promise<{ target: string; approvedBy: string[]; channels: string[]; startedAtMs: number }> {
      // startedAtMs: when this step began on the worker (the benchmarks measure decision → next step).
      const startedAtMs = Date.now();
      return {
        startedAtMs,
        target,
        approvedBy: approvals.map((a) => a.by),
        channels: approvals.map((a) => `${a.channel.via}${a.channel.signed ? ' (signed)' : ''}`),
      };
    },
  };
}
