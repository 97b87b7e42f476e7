import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';

/** connection-refused's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('connection-refused', [
  resolveTarget,
  {
    id: 'tcp-probe',
    kind: 'step',
    title: 'TCP connect to the host and port of app.url: open, refused, timeout, DNS failure',
  },
  { id: 'http-ready', kind: 'step', title: 'When the port is open: GET the readiness path (app.ready)' },
  {
    id: 'service-state',
    kind: 'step',
    title:
      "The app service's state through the service adapter (docker compose ps, systemctl is-active, or its status command)",
    hostLocal: true,
  },
  {
    id: 'port-mapping',
    kind: 'step',
    title:
      "With app.compose: does the service's ports: publish the port users connect to? (missing or wrong is reported with the YAML that fixes it)",
    hostLocal: true,
  },
  lockTarget,
  {
    id: 'force-recreate',
    kind: 'gate',
    title: 'Approve recreating the app service, with the evidence (fix a wrong port mapping first)',
  },
  {
    id: 'port-mapping-again',
    kind: 'step',
    title: 'When the mapping was wrong: read it again; still wrong → stop, nothing recreated',
    hostLocal: true,
  },
  {
    id: 'recreate',
    kind: 'step',
    title:
      "docker compose up -d --no-deps --force-recreate <service>, or restart through the target's driver; proved healthy",
    changes: true,
    hostLocal: true,
  },
  { id: 'verify-port', kind: 'step', title: 'Verify: the port accepts connections and the app is ready' },
]);
