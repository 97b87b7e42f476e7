import { defineProcedure, lockTarget, resolveTarget } from '../../contract/procedure.js';
import {
  dryRunCopy,
  dryRunRestore,
  stopWriters,
  freeze,
  dump,
  smoke,
  unfreeze,
  startWriters,
  cleanup,
} from '../shared/database-steps.js';

/** release-migration's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('release-migration', [
  lockTarget,
  resolveTarget,
  {
    id: 'preflight',
    kind: 'step',
    title:
      "Check the ops role's privileges (CREATEDB, database owner, pg_signal_backend); the database's revision is one the code knows; resolve toRevision",
    hostLocal: true,
  },
  dryRunCopy,
  dryRunRestore,
  {
    id: 'record-settings',
    kind: 'step',
    title: "Record the database's owner, grants, settings and connection settings (a swapped-in copy gets them back)",
  },
  { id: 'freeze-writes', kind: 'gate', title: 'Approve freezing writes (targets with freezeWrites)' },
  stopWriters,
  freeze,
  {
    id: 'snapshot',
    kind: 'step',
    title:
      'Pre-release snapshot: CREATE DATABASE … TEMPLATE live STRATEGY FILE_COPY (connections blocked for those seconds), labelled with the revision',
  },
  dump,
  {
    id: 'rehearse-upgrade',
    kind: 'step',
    title:
      'Rehearse the upgrade on a clone of the snapshot; compare with a fresh build of the revision; time it; drop the clone',
    hostLocal: true,
  },
  { id: 'upgrade', kind: 'gate', title: "Approve the upgrade, with the rehearsal's outcome as evidence" },
  {
    id: 'apply-upgrade',
    kind: 'step',
    title: 'alembic upgrade <toRevision> on the live database',
    changes: true,
    hostLocal: true,
  },
  smoke,
  {
    id: 'rollback-evidence',
    kind: 'step',
    title: 'On failure: what a rollback would lose (rows written since the snapshot)',
  },
  {
    id: 'rollback',
    kind: 'gate',
    title: 'On failure: approve swapping the pre-release snapshot back in, or reject to hand over to migration-failed',
  },
  {
    id: 'swap-back',
    kind: 'step',
    title:
      "Swap the snapshot in (two renames in one transaction), re-apply owner/grants/settings, prove as the app's role; keep the failed database under a dated name",
    changes: true,
  },
  unfreeze,
  startWriters,
  cleanup,
]);
