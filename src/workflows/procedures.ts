/**
 * Each runbook's procedure, in order: the single list the workflow runs (runbook() refuses a step
 * or gate not declared here) and `runbook print` renders. So the printed procedure cannot drift
 * from what runs.
 */

export interface ProcedureItem {
  id: string;
  kind: 'step' | 'gate';
  title: string;
  /** Changes the target (listed as "would run" in dry runs). */
  changes?: boolean;
  /** Runs on the target's host worker (its taskQueue), not on any worker. */
  hostLocal?: boolean;
  /** Runs only when this input is set. */
  onlyWith?: string;
}

export const procedures: Record<string, ProcedureItem[]> = {
  'db-access': [
    { id: 'resolve-target', kind: 'step', title: 'Resolve the target by name on the worker (host, port, database; credentials stay on the worker)' },
    { id: 'select-1', kind: 'step', title: 'Check connectivity: `select 1`, its latency, the server version' },
    { id: 'connections', kind: 'step', title: 'Count connections in use against max_connections' },
    { id: 'applied-revision', kind: 'step', title: 'Read the applied migration from alembic_version' },
    { id: 'alembic-heads', kind: 'step', title: 'List the code\'s migration heads and history (alembic)', hostLocal: true },
    { id: 'long-transactions', kind: 'step', title: 'List transactions open longer than the threshold' },
    { id: 'blocking-locks', kind: 'step', title: 'List sessions waiting on locks, and who holds them' },
  ],
  'approval-drill': [
    { id: 'lock-target', kind: 'step', title: 'Take the target\'s lock, as changing runbooks do (to practise a locked target)', onlyWith: 'takeLock' },
    { id: 'proceed', kind: 'gate', title: 'Approve to proceed (four-eyes, one approver). Nothing will be changed.' },
    { id: 'record-decision', kind: 'step', title: 'Record who approved and how the decision arrived' },
  ],
};

/** The journal names of a gate's policy step, and of the gate a failed step parks at. */
export const policyStep = (gate: string) => `policy:${gate}`;
export const recoveryGate = (step: string) => `recover:${step}`;
