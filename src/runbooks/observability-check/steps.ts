import { defineProcedure, resolveTarget, reportFinding } from '../../contract/procedure.js';

/**
 * observability-check's procedure, in order: the workflow may run only these steps and gates, `runbook print`
 * renders them, and the catalogue derives the runbook's gates and whether it changes its target.
 */
export const procedure = defineProcedure('observability-check', [
  resolveTarget,
  { id: 'ready', kind: 'step', title: 'GET the readiness path (/ready)' },
  {
    id: 'metrics',
    kind: 'step',
    title:
      "GET the metrics endpoint; are the seeds' key metrics exposed (auth 401/403, imports failed/pending, payment attempts/errors, e-invoicing failures/latency)?",
  },
  {
    id: 'request-id',
    kind: 'step',
    title: "Send a request with a fresh X-Request-ID; is it echoed, and found in the app's logs?",
    hostLocal: true,
  },
  reportFinding,
]);
