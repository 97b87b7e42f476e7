import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'pwaStaleCache',
  description:
    "Users see an old tenant PWA: the build version served vs the expected one, Cache-Control of index.html and the service worker, every asset index.html references under VITE_BASE_PATH and answering; rebuild/redeploy behind a gate through the target's command; verify the new version is served. Header problems are reported, not 'fixed'.",
  input: z.strictObject({
    expectedVersion: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe("The version that should be served (default: the target's pwa.expectedVersion)."),
    verifyDeadline: z
      .string()
      .regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 2m')
      .optional()
      .describe('How long to wait for the new build after the redeploy (default 2m).'),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type PwaInput = RunbookInput & z.infer<typeof definition.input>;
