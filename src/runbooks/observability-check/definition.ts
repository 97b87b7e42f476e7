import { z } from 'zod';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'observabilityCheck',
  description:
    "Is the app observable? /ready; the metrics endpoint exposes the seeds' key metrics (auth 401/403, imports failed/pending, payment attempts vs errors, e-invoicing failures/latency); a request id sent in is echoed and found in the app's logs. Read-only.",
  input: z.strictObject({}),
});
