import { z } from 'zod';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'einvoicingFailed',
  description:
    "E-invoices fail to emit: the signing certificate (PKCS#12 via openssl pkcs12, -legacy for older files: expiry, key), the provider environment (sandbox/prod) against the expected one, invoices / invoices_temp by estado, the app's app.einvoicing lines; retry the failed ones through the app behind a gate, one Idempotency-Key per invoice (not offered while the certificate or environment would make it fail again); verify the counts moved.",
  input: z.strictObject({}),
});
