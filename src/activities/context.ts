import type { TargetRegistry } from '../targets.js';

/**
 * What activities share: the target registry, where this worker keeps its files, the environment
 * secrets are read from. Each activity is a named function taking the part of it it needs as its
 * first argument; a module's factory binds them (samples-typescript's activities-dependency-injection).
 */
export interface ActivityContext {
  targets: TargetRegistry;
  /** Where dumps go when a target names no backups.dir. */
  dataDir: string;
  env: NodeJS.ProcessEnv;
}

/** An activity written as `fn(ctx, ...args)`, as the worker calls it: `(...args)`. */
export type Bound<C, F> = F extends (ctx: C, ...args: infer A) => infer R ? (...args: A) => R : never;

/**
 * Binds each function to `ctx`; the keys are the activity names Temporal records in histories.
 * Parameter names, optional parameters and results keep their types.
 */
export function bindActivities<C, const Fns extends Record<string, (ctx: C, ...args: never[]) => unknown>>(
  ctx: C,
  fns: Fns,
): { [K in keyof Fns]: Bound<C, Fns[K]> } {
  const bound: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(fns)) bound[name] = (...args: never[]) => fn(ctx, ...args);
  return bound as { [K in keyof Fns]: Bound<C, Fns[K]> };
}
