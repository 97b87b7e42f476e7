import { stableStringify } from '../contract/signing.js';

/**
 * What a recovery gate says about its failed step, apart from runbook.ts's control flow. After a
 * retry that changed nothing failed with the same error, the gate says so and proposes what else
 * can help, rather than inviting the same retry again (#20: a stop that failed the same way at
 * every retry). A plain retry stays accepted: the operator may have fixed the cause outside the run.
 */

export type RecoveryAction = 'retry' | 'correct' | 'skip' | 'abort';

/** One failed attempt of the step, with the correction it ran with (none on the first). */
export interface FailedAttempt {
  error: string;
  correction?: Record<string, unknown>;
}

export interface RecoveryEvidence {
  step: string;
  error: string;
  /** Failed attempts of the step so far in this run (each after its own activity retries). */
  failures: number;
  /** The last retry changed nothing (no correction, or the one before) and failed with the same error. */
  sameErrorAsLast: boolean;
  /** What the gate proposes, most helpful first; `retry` is left out after a repeat (it is still accepted). */
  suggested: RecoveryAction[];
  /** The correction fields the step reads and what each is, where the runbook declares them. */
  corrections?: Record<string, string>;
}

export interface RecoveryContext {
  step: string;
  /** The target this run changed. */
  target: string;
  skippable: boolean;
  corrections?: Record<string, string>;
}

/** How many of the last attempts failed alike: same error, same correction (none counts as one). */
export function repeatedFailures(attempts: FailedAttempt[]): number {
  const last = attempts[attempts.length - 1];
  if (!last) return 0;
  const alike = (a: FailedAttempt) =>
    a.error === last.error && stableStringify(a.correction ?? null) === stableStringify(last.correction ?? null);
  let n = 0;
  for (let i = attempts.length - 1; i >= 0 && alike(attempts[i]!); i--) n++;
  return n;
}

function correctionExample(corrections: Record<string, string>): string {
  return `{${Object.entries(corrections)
    .map(([field, what]) => `"${field}": "<${what}>"`)
    .join(', ')}}`;
}

function oneOf(options: string[]): string {
  return options.length > 1 ? `${options.slice(0, -1).join(', ')}, or ${options[options.length - 1]}` : options[0]!;
}

const times = (n: number) => (n === 2 ? 'twice' : `${n} times`);

/** The recovery gate's prompt and evidence after the step's latest failed attempt. */
export function recoveryPlan(
  ctx: RecoveryContext,
  attempts: FailedAttempt[],
): { prompt: string; evidence: RecoveryEvidence } {
  const error = attempts[attempts.length - 1]!.error;
  const repeats = repeatedFailures(attempts);
  const sameErrorAsLast = repeats >= 2;
  const correctable = ctx.corrections !== undefined && Object.keys(ctx.corrections).length > 0;
  const suggested: RecoveryAction[] = [
    ...(sameErrorAsLast ? [] : ['retry' as const]),
    ...(correctable ? ['correct' as const] : []),
    ...(ctx.skippable ? ['skip' as const] : []),
    'abort',
  ];
  const evidence: RecoveryEvidence = {
    step: ctx.step,
    error,
    failures: attempts.length,
    sameErrorAsLast,
    suggested,
    ...(correctable ? { corrections: ctx.corrections } : {}),
  };
  const correct = correctable ? `retry with a correction ${correctionExample(ctx.corrections!)}` : undefined;
  const skip = ctx.skippable ? 'skip it' : undefined;
  const abort = 'reject to abort and undo';
  if (!sameErrorAsLast) {
    const retry = correctable
      ? `Retry it (with a correction ${correctionExample(ctx.corrections!)} if needed)`
      : 'Retry it';
    return {
      evidence,
      prompt: `Step "${ctx.step}" failed after its retries, after this run had changed ${ctx.target}: ${error} ${oneOf([retry, ...(skip ? [skip] : []), abort])}.`,
    };
  }
  const instead = [correct, skip, abort].filter((o): o is string => o !== undefined);
  return {
    evidence,
    prompt: `Step "${ctx.step}" failed ${times(repeats)} with the same error: retrying unchanged will fail again. After this run had changed ${ctx.target}: ${error} Instead, ${oneOf(instead)}. Only retry unchanged if you fixed the cause outside this run.`,
  };
}
