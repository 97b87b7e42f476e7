import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { ApprovalDrillInput } from './definition.js';
import { approvedSummary, dryRunSummary, proceedPrompt } from './texts.js';

/**
 * Touches nothing: one gate `proceed`, then a step that records the decision. For on-call
 * training and for checking the approval path end to end (API, CLI, Temporal UI, temporal CLI).
 */

export async function approvalDrill(
  input: ApprovalDrillInput,
): Promise<RunbookResult<{ approvedBy: string[]; channels: string[] }>> {
  const rb = runbook(procedure, input);
  return rb.run(async () => {
    const prompt = input.prompt ?? proceedPrompt(input.target);
    if (input.dryRun) {
      return {
        runbook: 'approval-drill',
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
      runbook: 'approval-drill',
      target: input.target,
      healthy: true,
      summary: approvedSummary(recorded.approvedBy, recorded.channels),
      findings: { approvedBy: recorded.approvedBy, channels: recorded.channels },
    };
  });
}
