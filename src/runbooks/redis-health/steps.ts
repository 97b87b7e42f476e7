import { defineProcedure, reportFinding, resolveTarget } from '../../contract/procedure.js';

/**
 * redis-health's steps and gates, in order (what derives from them: src/runbooks/README.md).
 * Read-only: no lock, no gate.
 */
export const procedure = defineProcedure('redis-health', [
  resolveTarget,
  { id: 'redis-ping', kind: 'step', title: 'PING five times (median and worst latency); server version, uptime, role' },
  {
    id: 'redis-memory',
    kind: 'step',
    title: 'Memory in use against maxmemory, the maxmemory-policy, keys evicted since start (INFO memory, stats)',
  },
  { id: 'redis-clients', kind: 'step', title: 'Clients connected and blocked in BLPOP/BRPOP/XREAD (INFO clients)' },
  {
    id: 'redis-slowlog',
    kind: 'step',
    title:
      'SLOWLOG GET: entries of the last window slower than the threshold, the slowest by command name (never their arguments)',
  },
  reportFinding,
]);
