import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'loginErrors',
  description:
    "Logins fail (5xx, cookies not kept, CORS): a bad-credentials and a good login, the session cookie judged as browsers do (Domain vs COOKIE_DOMAIN, Secure, SameSite, HttpOnly), CORS preflight from each front-end origin, the certificate, RATE_LIMIT_ENABLED and RateLimitMiddleware lines, the 401/403 share against 5%; the target's named remediations for what was found, behind a gate; verified.",
  input: z.strictObject({
    window: z
      .string()
      .regex(/^\d+\s*(ms|s|m|h)$/, 'a duration such as 60s')
      .optional()
      .describe(
        "The window the 401/403 share is measured over (default: the target's login.authFailures.window, 60s).",
      ),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type LoginInput = RunbookInput & z.infer<typeof definition.input>;
