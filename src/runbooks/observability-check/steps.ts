import { defineProcedure, resolveTarget, reportFinding } from '../../contract/procedure.js';

/** observability-check's steps and gates, in order (what derives from them: src/runbooks/README.md). */
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
