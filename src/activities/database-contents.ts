import type pg from 'pg';
import type { ActivityContext } from './context.js';
import { revisionOf } from './pg-admin.js';
import { withPg } from './postgres.js';

/**
 * What a database on a target's server holds: rows per table (exact counts, largest id, newest
 * timestamp), what the live database has that a backup lacks, its alembic revision; and the
 * statements we generated (leftover drops) run in one transaction.
 */

type TargetsContext = Pick<ActivityContext, 'targets'>;

export interface TableRows {
  table: string;
  rows: number;
  /** The table's single integer primary key column and its largest value. */
  maxId?: { column: string; value: number | null };
  /** The table's first timestamp column and its newest value. */
  newest?: { column: string; value: string | null };
}

export interface LostRows {
  table: string;
  /** Rows the live database has beyond the backup's largest id (or by count when no integer key). */
  rows: number;
  /** false: the backup has no such table (created since, e.g. by the release itself). */
  inBackup: boolean;
  newestInLive?: string | null;
  newestInBackup?: string | null;
}

/** Exact rows of tables (names as `format('%I.%I')` gives them), two sessions at a time. */
export async function countRows(
  ctx: TargetsContext,
  target: string,
  database: string,
  tables: Array<{ table: string; partitioned?: boolean }>,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let next = 0;
  const lane = () =>
    withPg(
      ctx.targets,
      target,
      async (c) => {
        for (let i = next++; i < tables.length; i = next++) {
          const t = tables[i]!;
          // ONLY: a table's own rows, as its COPY data holds them (not its inheritance children's).
          out[t.table] = Number(
            (await c.query<{ n: string }>(`select count(*) as n from ${t.partitioned ? '' : 'only '}${t.table}`))
              .rows[0]!.n,
          );
        }
      },
      { database, statementTimeoutMs: 10 * 60_000 },
    );
  await Promise.all([lane(), lane()]);
  return out;
}

/** The tables of a database by oid, named as `format('%I.%I')` gives them. */
export async function tablesByOid(c: pg.Client): Promise<Map<string, { table: string; partitioned: boolean }>> {
  const { rows } = await c.query<{ oid: string; tbl: string; kind: string }>(
    `select c.oid::text as oid, format('%I.%I', n.nspname, c.relname) as tbl, c.relkind::text as kind
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`,
  );
  return new Map(rows.map((r) => [r.oid, { table: r.tbl, partitioned: r.kind === 'p' }]));
}

async function tableRows(c: pg.Client): Promise<TableRows[]> {
  const { rows } = await c.query<{ tbl: string; pk: string | null; ts: string | null }>(
    `select format('%I.%I', n.nspname, c.relname) as tbl,
            (select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
              where i.indrelid = c.oid and i.indisprimary and i.indnatts = 1 and a.atttypid in (20, 21, 23)) as pk,
            (select a.attname from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                and a.atttypid in (1114, 1184) order by a.attnum limit 1) as ts
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
      order by 1`,
  );
  const out: TableRows[] = [];
  for (const t of rows) {
    const cols = [
      `count(*)::bigint as n`,
      t.pk ? `max(${quoteCol(t.pk)})::bigint as maxid` : 'null as maxid',
      t.ts ? `max(${quoteCol(t.ts)})::text as newest` : 'null as newest',
    ];
    const r = (
      await c.query<{ n: string; maxid: string | null; newest: string | null }>(
        `select ${cols.join(', ')} from ${t.tbl}`,
      )
    ).rows[0]!;
    out.push({
      table: t.tbl,
      rows: Number(r.n),
      ...(t.pk ? { maxId: { column: t.pk, value: r.maxid === null ? null : Number(r.maxid) } } : {}),
      ...(t.ts ? { newest: { column: t.ts, value: r.newest } } : {}),
    });
  }
  return out;
}

const quoteCol = (c: string) => `"${c.replace(/"/g, '""')}"`;

/**
 * What replacing the live database by a backup would lose, table by table: rows whose integer id
 * is beyond the backup's largest (counted in the live database), else the difference in counts;
 * with the newest timestamps on both sides. Tables with nothing to lose are left out.
 */
async function rowsNotIn(c: pg.Client, backup: TableRows[]): Promise<LostRows[]> {
  const live = await tableRows(c);
  const byName = new Map(backup.map((t) => [t.table, t]));
  const lost: LostRows[] = [];
  for (const t of live) {
    if (t.table === 'public.alembic_version') continue;
    const b = byName.get(t.table);
    let rows: number;
    if (!b) rows = t.rows;
    else if (t.maxId && b.maxId?.column === t.maxId.column) {
      const beyond = await c.query<{ n: string }>(
        `select count(*) as n from ${t.table} where ${quoteCol(t.maxId.column)} > $1`,
        [b.maxId.value ?? Number.MIN_SAFE_INTEGER],
      );
      rows = Number(beyond.rows[0]!.n);
    } else rows = Math.max(0, t.rows - b.rows);
    if (rows === 0) continue;
    lost.push({
      table: t.table,
      rows,
      inBackup: b !== undefined,
      newestInLive: t.newest?.value ?? null,
      newestInBackup: b?.newest?.value ?? null,
    });
  }
  return lost;
}

/** Rows per table (count, largest integer id, newest timestamp) of a database on the target's server. */
export async function pgTableRows(ctx: TargetsContext, target: string, database?: string): Promise<TableRows[]> {
  return withPg(ctx.targets, target, tableRows, { database, statementTimeoutMs: 10 * 60_000 });
}

/** What the live database holds that a backup (its row summary) lacks: the evidence at a restore gate. */
export async function pgRowsNotIn(ctx: TargetsContext, target: string, backup: TableRows[]): Promise<LostRows[]> {
  return withPg(ctx.targets, target, (c) => rowsNotIn(c, backup), { statementTimeoutMs: 10 * 60_000 });
}

/** The alembic revision(s) of a database on the target's server; null: it has no alembic_version. */
export async function pgRevisionIn(ctx: TargetsContext, target: string, database: string): Promise<string[] | null> {
  return withPg(ctx.targets, target, revisionOf, { database });
}

/** Runs SQL statements we generated (leftover drops) in one transaction. */
export async function pgExecute(
  ctx: TargetsContext,
  target: string,
  req: { database?: string; statements: string[] },
): Promise<{ executed: number }> {
  return withPg(
    ctx.targets,
    target,
    async (c) => {
      await c.query('begin');
      for (const s of req.statements) await c.query(s);
      await c.query('commit');
      return { executed: req.statements.length };
    },
    { database: req.database },
  );
}
