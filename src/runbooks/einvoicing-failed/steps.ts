import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';

/** einvoicing-failed's steps and gates, in order (what derives from them: src/runbooks/README.md). */
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
