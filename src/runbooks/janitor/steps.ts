import { defineProcedure, resolveTarget } from '../../contract/procedure.js';

/** janitor's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('janitor', [
  resolveTarget,
  {
    id: 'list',
    kind: 'step',
    title:
      "List our databases on the server (by their durable-runbooks label), our dumps, and the runs' work copies and artifacts on the target's host",
  },
  {
    id: 'plan',
    kind: 'step',
    title:
      'Clones, scratch and fresh builds and work copies of ended runs go at once; snapshots, kept databases, dumps and artifacts after the retention; nothing of an open run',
  },
  {
    id: 'remove',
    kind: 'gate',
    title: 'Approve dropping the listed leftovers for good (not in a dry run; skipped when there is nothing to drop)',
  },
  { id: 'drop', kind: 'step', title: 'Drop and delete them', changes: true },
]);
