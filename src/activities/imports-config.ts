import { ApplicationFailure } from '@temporalio/common';
import { TargetsError, type TargetSpec } from '../targets.js';
import type { ActivityContext } from './context.js';
import { FailureType } from './errors.js';
import type { createServiceActivities } from './services.js';

/** What the stuck-imports activities share: the target's imports section, its broker, the ledger's name. */

export type ImportsContext = Pick<ActivityContext, 'targets' | 'env'> & {
  /** The worker's service status, by the services activities. */
  services: Pick<ReturnType<typeof createServiceActivities>, 'serviceStatus'>;
};

export type ImportsSpec = NonNullable<TargetSpec['imports']>;

/** Where re-enqueued items are recorded, in the app's database. */
export const LEDGER = 'durable_runbooks.import_reenqueue';

/** Quotes a (possibly schema-qualified) identifier from the targets file. */
export function qi(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
}

/** The target's imports section; none, or a bad targets file: fails at once. */
export function importsSpec(ctx: ImportsContext, target: string): ImportsSpec {
  try {
    const s = ctx.targets.spec(target).imports;
    if (!s)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no imports section in ${ctx.targets.file}; stuck-imports needs it (tables, statuses, Celery app, worker service).`,
        FailureType.targetConfig,
      );
    return s;
  } catch (err) {
    if (err instanceof TargetsError) throw ApplicationFailure.nonRetryable(err.message, FailureType.targetConfig);
    throw err;
  }
}

/** The broker's URL (with its password), as shown (without), and the password to redact. */
export function brokerUrl(ctx: ImportsContext, target: string): { url: string; shown: string; password?: string } {
  try {
    const url = ctx.targets.redisUrl(target);
    const shown = ctx.targets.spec(target).redis!.url.replace(/\/\/[^@]*@/, '//');
    return { url, shown, password: url === ctx.targets.spec(target).redis!.url ? undefined : new URL(url).password };
  } catch (err) {
    if (err instanceof TargetsError) throw ApplicationFailure.nonRetryable(err.message, FailureType.targetConfig);
    throw err;
  }
}
