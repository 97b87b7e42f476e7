import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'migrationFailed',
  description:
    'Repairs a failed alembic migration: freeze writes, undo point (snapshot + verified dump), the downgrade to the pre-release revision rehearsed on a clone and checked against a fresh build, leftovers dropped, or the pre-release state restored (showing the rows it would lose); every change behind a gate; ends asking for the root cause.',
  input: z.strictObject({
    toRevision: z
      .string()
      .regex(/^[A-Za-z0-9_]+$/, 'an alembic revision id')
      .optional()
      .describe(
        'The last good revision (default: the pre-release revision release-migration recorded for this target).',
      ),
    backup: z
      .string()
      .min(1)
      .optional()
      .describe(
        "A pg_dump file or directory (custom, directory or plain SQL) to restore from if the downgrade cannot repair: inside the target's backups.dir, as an absolute path or a name relative to it.",
      ),
    reapply: z.boolean().optional().describe('After the repair, upgrade to head again (once the cause is fixed).'),
    rootCauseDeadline: z
      .string()
      .regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 30m, 24h')
      .optional()
      .describe('How long the run waits for the root-cause note (default 24h).'),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type MigrationFailedInput = RunbookInput & z.infer<typeof definition.input>;
