import { execa } from 'execa';
import { normaliseSchema } from '../../src/activities/pgtools.js';
import { PG, sql } from '../support/harness.js';

/**
 * What "equal to an uninterrupted run" compares: the live database's normalised schema dump, its
 * rows by primary key and its alembic_version. Ignored, as they differ between any two runs:
 * timestamp columns (set by now()), sequence positions, the runbooks' own bookkeeping schema
 * (ledgers keyed by run), and generated names (a revision id made by autogenerate), which the
 * caller maps to a placeholder.
 */
export interface DbState {
  revision: string[];
  schema: string[];
  rows: Record<string, unknown[]>;
}

export async function dbState(db: string, rename: Record<string, string> = {}): Promise<DbState> {
  const swap = (s: string) => Object.entries(rename).reduce((acc, [from, to]) => acc.split(from).join(to), s);
  const { stdout } = await execa('pg_dump', [
    '-h',
    PG.host,
    '-p',
    String(PG.port),
    '-U',
    PG.user,
    '--schema-only',
    '--no-owner',
    '--no-privileges',
    '--no-comments',
    '--exclude-schema=durable_runbooks',
    db,
  ]);
  const schema = normaliseSchema(stdout).map(swap).sort();
  const tables = await sql<{ name: string; pk: string | null; cols: string }>(
    db,
    `
    select c.oid::regclass::text as name,
           (select string_agg(quote_ident(a.attname), ', ' order by k.i)
              from pg_index x cross join unnest(x.indkey) with ordinality k(attnum, i)
              join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
             where x.indrelid = c.oid and x.indisprimary) as pk,
           (select string_agg(quote_ident(a.attname), ', ' order by a.attnum) from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
               and a.atttypid not in ('timestamp'::regtype, 'timestamptz'::regtype, 'date'::regtype)) as cols
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname = 'public'
     order by 1`,
  );
  const rows: Record<string, unknown[]> = {};
  for (const t of tables) {
    const found = (
      await sql<{ r: unknown }>(
        db,
        `select row_to_json(x) as r from (select ${t.cols} from ${t.name} order by ${t.pk ?? t.cols}) x`,
      )
    ).map((r) => r.r);
    rows[t.name] = JSON.parse(swap(JSON.stringify(found))) as unknown[];
  }
  const revision = (
    await sql<{ v: string }>(db, 'select version_num as v from alembic_version order by 1').catch(() => [])
  ).map((r) => swap(r.v));
  return { revision, schema, rows };
}

/** Where two states differ, in a few lines a person can read (empty: equal). */
export function stateDiff(expected: DbState, actual: DbState): string[] {
  const out: string[] = [];
  if (JSON.stringify(expected.revision) !== JSON.stringify(actual.revision))
    out.push(`alembic_version ${JSON.stringify(actual.revision)}, expected ${JSON.stringify(expected.revision)}`);
  const missing = expected.schema.filter((s) => !actual.schema.includes(s));
  const extra = actual.schema.filter((s) => !expected.schema.includes(s));
  if (missing.length)
    out.push(
      `schema lacks: ${missing.slice(0, 3).join(' | ')}${missing.length > 3 ? ` (+${missing.length - 3})` : ''}`,
    );
  if (extra.length)
    out.push(`schema has extra: ${extra.slice(0, 3).join(' | ')}${extra.length > 3 ? ` (+${extra.length - 3})` : ''}`);
  for (const t of new Set([...Object.keys(expected.rows), ...Object.keys(actual.rows)])) {
    const e = JSON.stringify(expected.rows[t] ?? null);
    const a = JSON.stringify(actual.rows[t] ?? null);
    if (e !== a)
      out.push(
        `rows of ${t} differ: ${actual.rows[t]?.length ?? 'no table'} row(s), expected ${expected.rows[t]?.length ?? 'no table'}`,
      );
  }
  return out;
}
