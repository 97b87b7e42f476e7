import { ApplicationFailure } from '@temporalio/common';
import { redact } from '../util/redact.js';
import { adminSession, asAppRole, type DbContext, ident, liveDatabase } from './pg-admin.js';

/** The live database frozen read-only and thawed, each proved by a session as the app's role. */

export interface FreezeResult {
  method: 'read-only';
  /** Sessions of the app (not ours) ended so that none keeps writing in a transaction begun before. */
  sessionsEnded: number;
  /** The proof: a write attempted as this role failed with this error. */
  proof: { role: string; asAppRole: boolean; error: string };
}

/**
 * Freeze by read-only: new transactions of every new session are read-only; the app's open
 * sessions are ended so none keeps writing; then a write as the app's role must fail.
 */
export async function pgFreezeReadOnly(ctx: DbContext, target: string): Promise<FreezeResult> {
  const db = liveDatabase(ctx, target);
  const sessionsEnded = await adminSession(
    ctx,
    target,
    async (c) => {
      await c.query(`alter database ${ident(db)} set default_transaction_read_only = on`);
      const { rows } = await c.query<{ n: string }>(
        `select count(*) filter (where pg_terminate_backend(pid)) as n from pg_stat_activity
            where datname = $1 and pid <> pg_backend_pid() and application_name not like 'durable-runbooks%'`,
        [db],
      );
      return Number(rows[0]?.n ?? 0);
    },
    30_000,
  );
  const proof = await asAppRole(ctx, target, db, async (c) => {
    try {
      await c.query('create temp table durable_runbooks_freeze_probe (x int)');
      return undefined;
    } catch (err) {
      return err as { code?: string; message: string };
    }
  }).catch((err: unknown) => {
    throw ApplicationFailure.nonRetryable(
      `Could not connect as the app's role to prove the freeze: ${redact(String((err as Error).message))}. Check postgres.appUser/appPasswordEnv in ${ctx.targets.file}.`,
      'FreezeNotProved',
    );
  });
  if (proof.value?.code !== '25006') {
    throw ApplicationFailure.nonRetryable(
      `The freeze of "${db}" is not proved: a write as ${proof.role} ${proof.value ? `failed for another reason (${proof.value.message})` : 'succeeded'}. Writes are NOT stopped; check the role's settings (ALTER ROLE … SET default_transaction_read_only overrides the database's).`,
      'FreezeNotProved',
    );
  }
  return {
    method: 'read-only',
    sessionsEnded,
    proof: { role: proof.role, asAppRole: proof.asAppRole, error: proof.value.message },
  };
}

/** Lifts the read-only freeze; proved by a write as the app's role succeeding (a temp table, nothing kept). */
export async function pgUnfreeze(ctx: DbContext, target: string): Promise<{ writable: boolean; role: string }> {
  const db = liveDatabase(ctx, target);
  await adminSession(
    ctx,
    target,
    (c) => c.query(`alter database ${ident(db)} reset default_transaction_read_only`),
    30_000,
  );
  const proof = await asAppRole(ctx, target, db, async (c) => {
    await c.query('create temp table durable_runbooks_freeze_probe (x int)');
    return true;
  });
  return { writable: proof.value, role: proof.role };
}
