import { defineProcedure, lockTarget, resolveTarget } from '../../contract/procedure.js';
import {
  dryRunCopy,
  dryRunRestore,
  recordSettings,
  stopWriters,
  freeze,
  dump,
  smoke,
  unfreeze,
  startWriters,
  cleanup,
} from '../shared/database-steps.js';

/** migration-failed's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('migration-failed', [
  lockTarget,
  resolveTarget,
  {
    id: 'preflight',
    kind: 'step',
    title:
      "Check the ops role's privileges; toRevision: given, or the pre-release revision release-migration recorded (never a blind downgrade -1), known to the code; verify the given backup",
    hostLocal: true,
  },
  {
    id: 'evidence',
    kind: 'step',
    title:
      'Compare the live schema with a fresh build of its current revision: the objects a failed revision left behind',
    hostLocal: true,
  },
  dryRunCopy,
  dryRunRestore,
  recordSettings,
  {
    id: 'freeze-writes',
    kind: 'gate',
    title: 'Approve freezing writes (the app is cut off for the seconds of the snapshot)',
  },
  stopWriters,
  freeze,
  {
    id: 'snapshot',
    kind: 'step',
    title: 'Undo point: snapshot of the frozen database (CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY)',
  },
  dump,
  {
    id: 'rehearse-downgrade',
    kind: 'step',
    title:
      'Rehearse the downgrade on a clone of the snapshot; compare with a fresh build of toRevision; rehearse dropping leftovers; time it; drop the clone',
    hostLocal: true,
  },
  {
    id: 'downgrade',
    kind: 'gate',
    title: 'Approve the downgrade (when the rehearsal ended clean), with the rehearsal as evidence',
  },
  {
    id: 'apply-downgrade',
    kind: 'step',
    title: 'alembic downgrade <toRevision> on the live database',
    changes: true,
    hostLocal: true,
  },
  {
    id: 'drop-leftovers',
    kind: 'step',
    title: 'Drop the leftovers the rehearsal dropped (indexes, constraints; never tables)',
    changes: true,
  },
  {
    id: 'verify',
    kind: 'step',
    title: 'Verify: the live database equals a fresh build of toRevision',
    hostLocal: true,
  },
  {
    id: 'restore-source',
    kind: 'step',
    title:
      'If the downgrade cannot repair it: the given backup restored into scratch (checked against its manifest), or a copy of the pre-release snapshot',
  },
  {
    id: 'restore-evidence',
    kind: 'step',
    title:
      'What the restore would lose: rows in the live database the source lacks, per table, with the newest timestamps',
  },
  { id: 'restore', kind: 'gate', title: 'Approve the restore, with what it would lose as evidence' },
  {
    id: 'swap-in',
    kind: 'step',
    title:
      "Swap the restored database in (two renames in one transaction), re-apply owner/grants/settings and the freeze, prove as the app's role; keep the replaced one as <live>_pre_restore_<time>",
    changes: true,
  },
  { id: 'reapply', kind: 'gate', title: 'Approve re-applying the migrations (with reapply)' },
  {
    id: 'apply-reapply',
    kind: 'step',
    title: 'alembic upgrade head',
    changes: true,
    hostLocal: true,
    onlyWith: 'reapply',
  },
  smoke,
  unfreeze,
  startWriters,
  {
    id: 'root-cause',
    kind: 'step',
    title:
      'Wait for the root-cause note (update or signal rootCause: {"by", "note"}) until the deadline; it goes into the timeline',
  },
  cleanup,
]);
