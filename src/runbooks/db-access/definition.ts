import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'dbAccess',
  description:
    "Can we reach the database? select 1 with latency, server version, connections in use against max_connections, the applied alembic revision against the code's heads, long transactions and blocking locks. Read-only.",
  input: z.strictObject({
    longTransactionSeconds: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Report transactions open longer than this (default 300).'),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type DbAccessInput = RunbookInput & z.infer<typeof definition.input>;
