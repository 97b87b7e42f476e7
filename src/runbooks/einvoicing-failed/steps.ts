import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';

/**
 * einvoicing-failed's procedure, in order: the workflow may run only these steps and gates, `runbook print`
 * renders them, and the catalogue derives the runbook's gates and whether it changes its target.
 */
export const procedure = defineProcedure('einvoicing-failed', [
  resolveTarget,
  {
    id: 'inspect',
    kind: 'step',
    title:
      "The signing certificate (PKCS#12 opened with openssl pkcs12, -legacy for older files: expiry, its key), the provider environment in the app's env file, invoices / invoices_temp by estado, the app's app.einvoicing lines",
    hostLocal: true,
  },
  lockTarget,
  {
    id: 'retry-emission',
    kind: 'gate',
    title:
      'Approve emitting the failed invoices again (offered only when the certificate and the environment are right)',
  },
  {
    id: 'retry',
    kind: 'step',
    title:
      "POST each failed invoice to the app's retry endpoint with Idempotency-Key rb-<run id>-<invoice id> (a retried step sends the same keys)",
    changes: true,
    hostLocal: true,
  },
  { id: 'verify', kind: 'step', title: 'Verify: count by estado again; which retried invoices left the failed states' },
]);
