import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';

/** pwa-stale-cache's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('pwa-stale-cache', [
  resolveTarget,
  {
    id: 'inspect',
    kind: 'step',
    title:
      'The build version served (version.json under the base path) vs the expected one; Cache-Control of index.html and the service worker; every asset index.html references under VITE_BASE_PATH and answering 200',
  },
  lockTarget,
  {
    id: 'redeploy',
    kind: 'gate',
    title:
      "Approve rebuilding and redeploying the PWA (only when the build itself is wrong; header problems are reported for the web server's owner)",
  },
  {
    id: 'redeploy-build',
    kind: 'step',
    title: "Run the target's pwa.redeploy command (bounded; its text stays in the targets file)",
    changes: true,
    hostLocal: true,
  },
  {
    id: 'verify-version',
    kind: 'step',
    title: 'Verify, until verifyDeadline: the expected version is served with every asset',
  },
]);
