/**
 * A runbook's procedure: its steps and gates in order, declared once in its folder's steps.ts.
 * The workflow may run only what its procedure declares (runbook() refuses the rest), `runbook
 * print` renders it, and the catalogue derives the gates and whether the runbook changes its
 * target from it. Workflow code: imports nothing but types.
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

export interface Procedure {
  /** The runbook's name (its folder, its catalogue entry, its journal). */
  name: string;
  steps: readonly ProcedureItem[];
}

export function defineProcedure(name: string, steps: ProcedureItem[]): Procedure {
  return { name, steps };
}

/** A runbook that takes the target's lock (always, not only with an input) changes its target. */
export const takesLock = (procedure: Procedure): boolean =>
  procedure.steps.some((s) => s.id === 'lock-target' && !s.onlyWith);

/** Steps every kind of runbook shares, declared once. */
export const lockTarget: ProcedureItem = {
  id: 'lock-target',
  kind: 'step',
  title: "Take the target's lock (one change at a time)",
};
export const resolveTarget: ProcedureItem = {
  id: 'resolve-target',
  kind: 'step',
  title: 'Resolve the target by name on the worker',
};
export const reportFinding: ProcedureItem = {
  id: 'report-finding',
  kind: 'step',
  title:
    "Started by a schedule and found a problem: tell the target's notify hooks; where the target declares schedules.<check>.escalate, start that runbook through the alert intake (one run while it is open)",
  onlyWith: 'schedule',
};

/** The journal names of a gate's policy step, and of the gate a failed step parks at. */
export const policyStep = (gate: string) => `policy:${gate}`;
export const recoveryGate = (step: string) => `recover:${step}`;
