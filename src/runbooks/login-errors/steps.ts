import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';

/** login-errors's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('login-errors', [
  resolveTarget,
  {
    id: 'auth-window-start',
    kind: 'step',
    title:
      "First sample of the app's requests by status (app.metrics); the window (login.authFailures.window) is slept durably",
  },
  {
    id: 'auth-window-end',
    kind: 'step',
    title: 'Second sample: the 401/403 share (and 429s) over the window, against the threshold (5%)',
  },
  {
    id: 'auth-failures',
    kind: 'step',
    title: "Or, with login.authFailures.prometheus: the share from the target's Prometheus query",
  },
  {
    id: 'inspect',
    kind: 'step',
    title:
      "A bad-credentials login (5xx? 429?) and the probe account's good login (its Set-Cookie judged as browsers do: Domain vs COOKIE_DOMAIN, Secure, SameSite, HttpOnly); CORS preflight from each front-end origin; the certificate (chain, names, days left); RATE_LIMIT_ENABLED and RateLimitMiddleware lines",
  },
  lockTarget,
  {
    id: 'remediate',
    kind: 'gate',
    title: 'Approve the named remediations whose fixes match the findings (none is offered for what was not found)',
  },
  {
    id: 'run-remediation',
    kind: 'step',
    title: "Run each approved remediation's command on the target's host (bounded; its text stays in the targets file)",
    changes: true,
    hostLocal: true,
  },
  {
    id: 'restart',
    kind: 'step',
    title: 'Restart the services the remediations name, proved healthy',
    changes: true,
    hostLocal: true,
  },
  {
    id: 'verify',
    kind: 'step',
    title: 'Verify: the login checked again; the findings the remediations address are gone',
  },
]);
