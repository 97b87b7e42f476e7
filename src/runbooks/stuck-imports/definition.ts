import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'stuckImports',
  description:
    "Stuck Celery/Redis imports: evidence (IMPORTS_ENABLED from the worker's start-up lines, liveness, Redis queue depth and imports:* keys, counts by status, row locks), a diagnosis, then only the remedies it calls for behind a gate (stale locks, blocking sessions, re-enqueue each stuck item once with a ledger; with retryFailed, each failed item once), a worker restart behind its own gate (first, when the broker lost its data and the queue's binding), and verification that the items move.",
  input: z.strictObject({
    stuckAfter: z
      .string()
      .regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 15m')
      .optional()
      .describe("Items waiting longer than this are stuck (default: the target's imports.stuckAfter)."),
    verifyDeadline: z
      .string()
      .regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 10m')
      .optional()
      .describe('How long to wait for the stuck items to move (default 10m).'),
    batchSize: z.number().int().min(1).max(10000).optional().describe('Items re-enqueued per batch (default 1000).'),
    retryFailed: z
      .boolean()
      .optional()
      .describe(
        "Also retry the items in a failed status (the target's imports.failed), each once ever, through the re-enqueue ledger, behind the remediate gate (default false).",
      ),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type StuckImportsInput = RunbookInput & z.infer<typeof definition.input>;
