import { defineProcedure, resolveTarget, lockTarget } from '../../contract/procedure.js';

/** payments-failed's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('payments-failed', [
  resolveTarget,
  {
    id: 'inspect',
    kind: 'step',
    title:
      "Per provider: its mode in the app's env file against the expected one; its webhook endpoint sent a correctly signed test event (2xx expected; Stripe's scheme through the stripe package, HMAC for the others) and a badly signed one (4xx expected); attempts by provider and status; the app's failed webhook events",
    hostLocal: true,
  },
  lockTarget,
  {
    id: 'redrive',
    kind: 'gate',
    title: 'Approve re-driving the failed events of providers whose webhook and mode are right',
  },
  {
    id: 'redrive-events',
    kind: 'step',
    title:
      'Send each event again as received, freshly signed; the app keys it by event id (an event already processed changes nothing)',
    changes: true,
    hostLocal: true,
  },
  { id: 'verify', kind: 'step', title: 'Verify: the re-driven events are no longer failed' },
]);
