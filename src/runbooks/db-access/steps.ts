import { defineProcedure, reportFinding } from '../../contract/procedure.js';

/** db-access's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('db-access', [
  {
    id: 'resolve-target',
    kind: 'step',
    title: 'Resolve the target by name on the worker (host, port, database; credentials stay on the worker)',
  },
  { id: 'select-1', kind: 'step', title: 'Check connectivity: `select 1`, its latency, the server version' },
  { id: 'connections', kind: 'step', title: 'Count connections in use against max_connections' },
  { id: 'applied-revision', kind: 'step', title: 'Read the applied migration from alembic_version' },
  {
    id: 'alembic-heads',
    kind: 'step',
    title: "List the code's migration heads and history (alembic)",
    hostLocal: true,
  },
  { id: 'long-transactions', kind: 'step', title: 'List transactions open longer than the threshold' },
  { id: 'blocking-locks', kind: 'step', title: 'List sessions waiting on locks, and who holds them' },
  reportFinding,
]);
