import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'approvalDrill',
  description:
    'Touches nothing: one gate "proceed" (four-eyes, one approval), then a step that records the decision. For on-call training and for checking the approval path end to end.',
  input: z.strictObject({
    prompt: z.string().max(500).optional().describe('What the gate asks (default: a drill prompt naming the target).'),
    takeLock: z.boolean().optional().describe("Hold the target's lock while waiting, as changing runbooks do."),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type ApprovalDrillInput = RunbookInput & z.infer<typeof definition.input>;
