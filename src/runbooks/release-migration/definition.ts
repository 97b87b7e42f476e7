import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'releaseMigration',
  description:
    "Runs a release's migrations so a failure is a one-second rollback: freeze writes (targets that declare it), pre-release snapshot and verified dump, the upgrade rehearsed on a clone, then applied behind a gate; smoke checks; on failure, swap the snapshot back in behind a gate.",
  input: z.strictObject({
    toRevision: z
      .string()
      .regex(/^[A-Za-z0-9_]+$/, 'an alembic revision id or "head"')
      .optional()
      .describe('Revision to upgrade to (default: head).'),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type ReleaseMigrationInput = RunbookInput & z.infer<typeof definition.input>;
