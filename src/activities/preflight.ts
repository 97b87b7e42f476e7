import { ApplicationFailure } from '@temporalio/common';
import { alembicUrlCheck, preflight, type TargetCheck } from './preflight-checks.js';
import type { TargetRegistry } from '../targets.js';
import { FailureType, targetFailure } from './errors.js';

export function createPreflightActivities(targets: TargetRegistry) {
  return {
    /** The preflight runbook's one step: every check of the target, failed ones with their fix. */
    async preflightChecks(target: string): Promise<TargetCheck[]> {
      return preflight(targets, target);
    },
    /**
     * Before a database runbook changes anything: the app's env.py must take its URL from the
     * variable the worker sets, or alembic would act on whatever database alembic.ini names.
     */
    async alembicUrlProof(target: string): Promise<{ ok: true; detail: string }> {
      let conn;
      try {
        conn = targets.postgres(target);
      } catch (err) {
        return targetFailure(err);
      }
      const check = await alembicUrlCheck(targets, target, conn);
      if (!check.ok)
        throw ApplicationFailure.nonRetryable(
          `${check.check}: ${check.detail}${check.fix ? ` Fix: ${check.fix}` : ''} Nothing was changed.`,
          FailureType.targetConfig,
        );
      return { ok: true, detail: check.detail };
    },
  };
}
