import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';

/** missing-container-file's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('missing-container-file', [
  resolveTarget,
  {
    id: 'detect-files',
    kind: 'step',
    title:
      'Each file of app.files (or the ones named): present where the app runs (docker exec sha256sum, or its directory) and equal to the good copy; mounts that hide it',
    hostLocal: true,
  },
  { id: 'app-health', kind: 'step', title: 'GET the readiness path' },
  lockTarget,
  { id: 'copy-in', kind: 'gate', title: 'Approve copying the good copies in, with the evidence and the permanent fix' },
  {
    id: 'copy-files',
    kind: 'step',
    title: 'docker cp <source> <container>:<workdir>/<path> (or copy into the app directory); sha256 checked',
    changes: true,
    hostLocal: true,
  },
  {
    id: 'restart-app',
    kind: 'step',
    title: 'Restart the app service through the service adapter, proved healthy',
    changes: true,
    hostLocal: true,
  },
  {
    id: 'verify-files',
    kind: 'step',
    title: 'Verify: the files are there and equal to the good copy; the app is ready',
    hostLocal: true,
  },
]);
