import type { UpdateDefinition } from '@temporalio/common';
import { ApplicationFailure, setHandler, type SignalDefinition } from '@temporalio/workflow';
import type { Journal } from './journal.js';

/** The failure type of a decision, abort or note refused by its policy (authorize journals it itself). */
export const DecisionRefused = 'DecisionRefused';

/**
 * One message, two doors: an Update, whose caller gets a refusal as its error (the validator
 * refuses before anything is recorded), and a Signal of the same input for channels that can only
 * signal (the Temporal UI, `temporal workflow signal`), which has no caller to answer, so its
 * refusal is journaled instead of thrown. `apply` may return a promise; a signal's rejected one is
 * journaled too. Refusals by policy (DecisionRefused) are journaled where they are decided.
 */
export function twinHandlers<I, R>(
  journal: Journal,
  update: UpdateDefinition<R, [I]>,
  signal: SignalDefinition<[I]>,
  handler: {
    validate(input: I): void;
    apply(input: I, via: 'update' | 'signal'): R | Promise<R>;
    /** The journal step a refused signal is recorded under. */
    step(input: I): string;
  },
): void {
  setHandler(update, (input) => handler.apply(input, 'update'), { validator: (input: I) => handler.validate(input) });
  setHandler(signal, (input) => {
    const refused = (err: unknown) => {
      if (err instanceof ApplicationFailure && err.type === DecisionRefused) return;
      const by = (input as { by?: unknown } | null | undefined)?.by;
      journal.add({
        kind: 'refusal',
        step: handler.step(input),
        actor: typeof by === 'string' ? by : 'unknown',
        outcome: 'refused',
        error: (err as Error).message,
        channel: { via: 'signal', signed: false },
      });
    };
    try {
      handler.validate(input);
      const done = handler.apply(input, 'signal');
      if (done instanceof Promise) done.catch(refused);
    } catch (err) {
      refused(err);
    }
  });
}
