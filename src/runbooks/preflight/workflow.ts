import type { TargetCheck } from '../../activities/index.js';
import type { RunbookInput, RunbookResult } from '../../contract/types.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import { reportScheduledFinding } from '../../engine/scheduled-check.js';
import { procedure } from './steps.js';
import { checkLines, verdict } from './texts.js';

export interface PreflightFindings {
  checks: TargetCheck[];
}

export async function preflight(input: RunbookInput): Promise<RunbookResult<PreflightFindings>> {
  const rb = runbook(procedure, input);
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    const checks = await rb.step('checks', () => hostActivitiesFor(input, target).preflightChecks(input.target));
    const result = {
      runbook: rb.name,
      target: input.target,
      healthy: checks.every((c) => c.ok),
      summary: [...checkLines(checks), verdict(checks)],
      findings: { checks },
    };
    await reportScheduledFinding(rb, input, result);
    return result;
  });
}
