import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { parseDuration } from '../util/duration.js';
import { type ImportsContext, importsSpec, type ImportsSpec, LEDGER, qi } from './imports-config.js';
import { withPg } from './postgres.js';

/** The app's database side of stuck-imports: the import tables by status, stuck and failed items, row locks. */

export interface ImportsDbEvidence {
  batches: Record<string, number>;
  items: Record<string, number>;
  /** Items in a waiting status not updated for longer than stuckAfter. */
  stuck: {
    count: number;
    oldest: string | null;
    sample: number[];
    olderThan: string;
    cutoff: string;
    oldestAgeSeconds?: number | null;
  };
  /** Items in a failed status (imports.failed); alreadyRetried: retried once by an earlier run (the ledger), never again. */
  failed?: {
    statuses: string[];
    count: number;
    sample: number[];
    alreadyRetried: number;
    alreadyRetriedSample: number[];
  };
  /** With a generation: the failed items that run retried, by their status now. */
  retried?: { byStatus: Record<string, number>; waiting: number; failedAgain: number[] };
  /** Sessions idle in a transaction that holds locks on the import tables. */
  rowLocks: Array<{
    pid: number;
    user: string | null;
    state: string | null;
    idleSeconds: number;
    tables: string[];
    query: string | null;
    blocking: number;
  }>;
}

/** Whether the ledger exists with its retried_from column (added with retryFailed; older ledgers lack it until a re-enqueue adds it). */
async function ledgerTracksRetries(c: pg.Client): Promise<boolean> {
  const { rows } = await c.query<{ ok: boolean }>(`select exists (select 1 from information_schema.columns
     where table_schema = 'durable_runbooks' and table_name = 'import_reenqueue' and column_name = 'retried_from') as ok`);
  return rows[0]!.ok;
}

/** Checks the import tables exist, naming the one that does not. */
export async function tablesExist(ctx: ImportsContext, c: pg.Client, s: ImportsSpec, target: string): Promise<void> {
  for (const t of [s.batches, s.items]) {
    const { rows } = await c.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [qi(t)]);
    if (!rows[0]?.ok) {
      throw ApplicationFailure.nonRetryable(
        `Table ${t} does not exist in the database of target "${target}". Check imports.batches/imports.items in ${ctx.targets.file}, or whether the app's migrations ran.`,
        'ImportsTablesMissing',
      );
    }
  }
}

/** The failed items a generation retried, by their status now. */
async function retriedBy(
  c: pg.Client,
  s: ImportsSpec,
  generation: string,
): Promise<NonNullable<ImportsDbEvidence['retried']>> {
  const rows = (
    await c.query<{ status: string; n: string; ids: number[] }>(
      `select i.${qi(s.status)}::text as status, count(*) as n, (array_agg(i.id order by i.id))[1:10] as ids
       from ${LEDGER} l join ${qi(s.items)} i on i.id = l.item_id
      where l.generation = $1 and l.retried_from is not null group by 1 order by 1`,
      [generation],
    )
  ).rows;
  return {
    byStatus: Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])),
    waiting: rows.filter((r) => s.waiting.includes(r.status)).reduce((n, r) => n + Number(r.n), 0),
    failedAgain: rows.filter((r) => s.failed.includes(r.status)).flatMap((r) => r.ids),
  };
}

/** Sessions idle in a transaction that hold locks on the import tables. */
async function rowLocksOn(c: pg.Client, s: ImportsSpec): Promise<ImportsDbEvidence['rowLocks']> {
  return (
    await c.query<ImportsDbEvidence['rowLocks'][number]>(
      `select a.pid, a.usename as "user", a.state, floor(extract(epoch from now() - a.state_change))::int as "idleSeconds",
            array_agg(distinct l.relation::regclass::text) as tables, left(a.query, 200) as query,
            (select count(*) from pg_stat_activity w where a.pid = any(pg_blocking_pids(w.pid)))::int as blocking
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.relation in (to_regclass($1), to_regclass($2)) and a.pid <> pg_backend_pid()
        and a.state in ('idle in transaction', 'idle in transaction (aborted)')
      group by a.pid, a.usename, a.state, a.state_change, a.query order by a.state_change`,
      [qi(s.batches), qi(s.items)],
    )
  ).rows;
}

/** Counts by status, stuck items, and sessions idle in a transaction holding locks on the tables. */
export async function importsDbEvidence(
  ctx: ImportsContext,
  target: string,
  req: { stuckAfter?: string; updatedBefore?: string; generation?: string } = {},
): Promise<ImportsDbEvidence> {
  const s = importsSpec(ctx, target);
  const olderThan = req.updatedBefore ? `an update before ${req.updatedBefore}` : (req.stuckAfter ?? s.stuckAfter);
  return withPg(ctx.targets, target, async (c) => {
    await tablesExist(ctx, c, s, target);
    // The cutoff is the server's clock, so the app's timestamps and ours compare.
    const cutoff =
      req.updatedBefore ??
      (
        await c.query<{ t: string }>(`select (now() - make_interval(secs => $1))::text as t`, [
          parseDuration(req.stuckAfter ?? s.stuckAfter) / 1000,
        ])
      ).rows[0]!.t;
    const counts = async (t: string) =>
      Object.fromEntries(
        (
          await c.query<{ status: string; n: string }>(
            `select ${qi(s.status)}::text as status, count(*) as n from ${qi(t)} group by 1 order by 1`,
          )
        ).rows.map((r) => [r.status, Number(r.n)]),
      );
    const stuck = (
      await c.query<{ n: string; oldest: string | null; sample: number[] | null; age: number | null }>(
        `select count(*) as n, min(${qi(s.updatedAt)})::text as oldest, (array_agg(id order by id))[1:10] as sample,
              floor(extract(epoch from now() - min(${qi(s.updatedAt)})))::int as age
         from ${qi(s.items)} where ${qi(s.status)} = any($1) and ${qi(s.updatedAt)} <= $2::timestamptz`,
        [s.waiting, cutoff],
      )
    ).rows[0]!;
    const tracked = await ledgerTracksRetries(c);
    const retriedBefore = tracked
      ? `exists (select 1 from ${LEDGER} l where l.item_id = i.id and l.retried_from is not null)`
      : 'false';
    const failed = (
      await c.query<{ n: string; sample: number[] | null; retried: string; retried_sample: number[] | null }>(
        `select count(*) as n, (array_agg(id order by id) filter (where not ${retriedBefore}))[1:10] as sample,
              count(*) filter (where ${retriedBefore}) as retried, (array_agg(id order by id) filter (where ${retriedBefore}))[1:10] as retried_sample
         from ${qi(s.items)} i where ${qi(s.status)} = any($1)`,
        [s.failed],
      )
    ).rows[0]!;
    const retried = req.generation && tracked ? await retriedBy(c, s, req.generation) : undefined;
    const rowLocks = await rowLocksOn(c, s);
    return {
      batches: await counts(s.batches),
      items: await counts(s.items),
      stuck: {
        count: Number(stuck.n),
        oldest: stuck.oldest,
        sample: stuck.sample ?? [],
        olderThan,
        cutoff,
        oldestAgeSeconds: stuck.age,
      },
      failed: {
        statuses: s.failed,
        count: Number(failed.n),
        sample: failed.sample ?? [],
        alreadyRetried: Number(failed.retried),
        alreadyRetriedSample: failed.retried_sample ?? [],
      },
      ...(retried ? { retried } : {}),
      rowLocks,
    };
  });
}

/** Ends sessions still idle in a transaction holding locks on the import tables (checked again first). */
export async function importsEndBlockingSessions(
  ctx: ImportsContext,
  target: string,
  pids: number[],
): Promise<{ ended: number[]; gone: number[] }> {
  const s = importsSpec(ctx, target);
  return withPg(ctx.targets, target, async (c) => {
    const ended: number[] = [];
    const gone: number[] = [];
    for (const pid of pids) {
      const { rows } = await c.query<{ ok: boolean }>(
        `select pg_terminate_backend(a.pid) as ok from pg_stat_activity a
          where a.pid = $1 and a.state in ('idle in transaction', 'idle in transaction (aborted)')
            and exists (select 1 from pg_locks l where l.pid = a.pid and l.relation in (to_regclass($2), to_regclass($3)))`,
        [pid, qi(s.batches), qi(s.items)],
      );
      (rows[0]?.ok ? ended : gone).push(pid);
    }
    return { ended, gone };
  });
}
