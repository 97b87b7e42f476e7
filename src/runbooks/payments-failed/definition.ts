import { z } from 'zod';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'paymentsFailed',
  description:
    "Payments fail (Stripe/Payphone/Kushki): per provider the mode (sandbox/live) against the expected one, its webhook endpoint answering 2xx to a correctly signed test event and 4xx to a badly signed one (Stripe's scheme via the stripe package, HMAC for the others), attempts by provider and status, the app's failed webhook events; re-drive them behind a gate, each keyed by its event id (never a second charge); verify they were processed.",
  input: z.strictObject({}),
});
