/** approval-drill's texts: its gate's prompt and its summaries. */

export function proceedPrompt(target: string): string {
  return `Drill: approve to proceed on ${target}. Nothing will be changed.`;
}

export function dryRunSummary(prompt: string, initiator: string | undefined): string[] {
  return [
    'Dry run: nothing was changed.',
    `Would open gate "proceed" ("${prompt}") for one approver other than ${initiator}, then record the decision.`,
  ];
}

export function approvedSummary(approvedBy: string[], channels: string[]): string[] {
  return [`Gate "proceed" approved by ${approvedBy.join(', ')} via ${channels.join(', ')}.`];
}
