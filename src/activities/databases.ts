import { ApplicationFailure } from '@temporalio/common';
import type { TargetRegistry } from '../targets.js';
import { bindActivities } from './context.js';
import { pgDatabaseSettings, pgSwap } from './database-swap.js';
import { pgFreezeReadOnly, pgUnfreeze } from './database-freeze.js';
import { FailureType } from './errors.js';
import { pgClone, pgCreateEmpty, pgDropManaged, pgListManaged, pgSnapshot } from './managed-databases.js';
import { adminSession, type DbContext, liveDatabase } from './pg-admin.js';
import { connectionOf } from './postgres.js';

/**
 * Whole databases on a target's server: freeze (database-freeze.ts), snapshot, clone, create and
 * drop databases of ours (managed-databases.ts), swap by two renames in one transaction
 * (database-swap.ts). Here: the privileges they need, and the factory binding them to the registry.
 */

export type * from './database-freeze.js';
export type * from './database-swap.js';
export type * from './managed-databases.js';
export { settingClause } from './database-swap.js';
export { managedName, parseManagedComment } from './managed-databases.js';
export { ident } from './pg-admin.js';

/** The privileges the database runbooks need of the ops role, each missing one named. */
export async function pgAdminCheck(
  ctx: DbContext,
  target: string,
): Promise<{ role: string; missing: string[]; serverMajor: number }> {
  return adminSession(
    ctx,
    target,
    async (c) => {
      const db = liveDatabase(ctx, target);
      const { rows } = await c.query<{
        role: string;
        sup: boolean;
        createdb: boolean;
        owns: boolean | null;
        signal: boolean;
        num: string;
      }>(
        `select current_user as role, r.rolsuper as sup, r.rolcreatedb as createdb,
                  (select pg_has_role(current_user, d.datdba, 'MEMBER') from pg_database d where d.datname = $1) as owns,
                  pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') as signal,
                  current_setting('server_version_num') as num
             from pg_roles r where r.rolname = current_user`,
        [db],
      );
      const r = rows[0]!;
      if (r.owns === null)
        throw ApplicationFailure.nonRetryable(
          `Target "${target}": database "${db}" does not exist on ${connectionOf(ctx.targets, target).host}. Check postgres.database in ${ctx.targets.file}.`,
          FailureType.dbMissing,
        );
      const missing: string[] = [];
      if (!r.sup) {
        if (!r.createdb)
          missing.push(`CREATEDB (snapshots, clones and restores create databases): ALTER ROLE ${r.role} CREATEDB`);
        if (!r.owns)
          missing.push(
            `ownership of database "${db}" (freeze, block connections, rename): ALTER DATABASE ${db} OWNER TO ${r.role}, or grant ${r.role} membership in its owner`,
          );
        if (!r.signal)
          missing.push(
            `pg_signal_backend (end the app's sessions for the freeze and the snapshot): GRANT pg_signal_backend TO ${r.role}`,
          );
      }
      return { role: r.role, missing, serverMajor: Math.floor(Number(r.num) / 10000) };
    },
    30_000,
  );
}

/** `env`: where the app role's password (postgres.appPasswordEnv) is read for the proofs. */
export function createDatabaseActivities(targets: TargetRegistry, env: NodeJS.ProcessEnv = process.env) {
  return bindActivities({ targets, env } satisfies DbContext, {
    pgAdminCheck,
    pgDatabaseSettings,
    pgFreezeReadOnly,
    pgUnfreeze,
    pgSnapshot,
    pgClone,
    pgCreateEmpty,
    pgDropManaged,
    pgListManaged,
    pgSwap,
  });
}
