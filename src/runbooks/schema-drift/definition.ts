import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { retrySqlRefusal } from '../../util/sql-statement.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'schemaDrift',
  description:
    "Detects drift between the database and the app's models (alembic autogenerate, in a scratch copy of the app's tree); if any: undo point, the generated revision (never a drop) rehearsed on a clone, applied behind a gate, verified, the failing operation retried; the file is handed back and the run ends when its commit is confirmed.",
  input: z.strictObject({
    retrySql: z
      .string()
      .min(1)
      .max(5000)
      .superRefine((sql, ctx) => {
        const why = retrySqlRefusal(sql);
        if (why) ctx.addIssue({ code: 'custom', message: why });
      })
      .optional()
      .describe(
        "The one statement that was failing, retried after the repair as the target's app role (postgres.appUser, never a superuser) in a transaction that is always rolled back. Not several statements, not transaction control.",
      ),
    retryHttp: z.url().optional().describe('The HTTP request (GET) that was failing, retried after the repair.'),
    commitDeadline: z
      .string()
      .regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 30m, 7d')
      .optional()
      .describe('How long to wait for the commit id of the generated revision (default 7d).'),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type SchemaDriftInput = RunbookInput & z.infer<typeof definition.input>;
