import { patched } from '@temporalio/workflow';
import { scheduleOfInitiator } from '../contract/schedule-ids.js';
import type { Runbook } from './runbook.js';
import type { RunbookInput, RunbookResult } from '../contract/types.js';

/**
 * The last step of a read-only check that a schedule started and that found a problem: tell the
 * target's notify hooks, and start the runbook the target escalates this check to (schedules.<check>.escalate)
 * through its alert intake. A check started by a person returns its result to them and does neither.
 */
export async function reportScheduledFinding(rb: Runbook, input: RunbookInput, result: RunbookResult): Promise<void> {
  const schedule = scheduleOfInitiator(input.initiator);
  if (schedule === undefined || result.healthy) return;
  // Runs recorded before scheduled checks existed never reach this line (no schedule started them); guarded all the same.
  if (!patched('scheduled-check-finding')) return;
  await rb.step(
    'report-finding',
    () => rb.act.reportFinding(input.target, { runbook: result.runbook, schedule, summary: result.summary }),
    { inputs: { schedule } },
  );
}
