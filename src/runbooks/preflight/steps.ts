import { defineProcedure, reportFinding, resolveTarget } from '../../contract/procedure.js';

/** preflight's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('preflight', [
  resolveTarget,
  {
    id: 'checks',
    kind: 'step',
    title:
      "Check what the runbooks will need, on the target's host: PostgreSQL (connect, CREATEDB, database owner, ending sessions, pg_dump/pg_restore versions against the server, alembic's env.py honouring DATABASE_URL), Redis (PING), each service's start command",
    hostLocal: true,
  },
  reportFinding,
]);
