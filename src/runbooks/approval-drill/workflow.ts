import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { ApprovalDrillInput } from './definition.js';
import { approvedSummary, dryRunSummary, proceedPrompt } from './texts.js';

/**
 * A drill of the approval path; it touches nothing. What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export async function approvalDrill(
  input: ApprovalDrillInput,
): Promise<RunbookResult<{ approvedBy: string[]; channels: string[] }>> {
  const rb = runbook(procedure, input);
  return rb.run(async () => {
    const prompt = input.prompt ?? proceedPrompt(input.target);
    if (input.dryRun) {
      return {
        runbook: rb.name,
        target: input.target,
        healthy: true,
        summary: dryRunSummary(prompt, input.initiator),
        findings: { approvedBy: [], channels: [] },
      };
    }
    if (input.takeLock) await rb.lockTarget();
    const approvals = await rb.gate('proceed', {
      prompt,
      evidence: { drill: true, target: input.target },
      policy: { approvers: ['role:approver'], approvalsNeeded: 1, fourEyes: true },
    });
    const recorded = await rb.step('record-decision', () => rb.act.recordDrillDecision(input.target, approvals));
    return {
      runbook: rb.name,
      target: input.target,
      healthy: true,
      summary: approvedSummary(recorded.approvedBy, recorded.channels),
      findings: { approvedBy: recorded.approvedBy, channels: recorded.channels },
    };
  });
}
