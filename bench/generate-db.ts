/** The generated database of the database benches: the fixture's shape, at a given size. */
import pg from 'pg';

type Conn = { host: string; port: number; user: string };

export async function query(conn: Conn, database: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ ...conn, database, statement_timeout: 0 });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

/** A database shaped like the fixture's, with about `sizeMb` of invoices and items. */
export async function generateDatabase(
  conn: Conn,
  live: string,
  sizeMb: number,
  log: (line: string) => void,
): Promise<void> {
  const q = (database: string, text: string) => query(conn, database, text);
  const exists = (
    await q('postgres', `select pg_database_size(datname) as s from pg_database where datname = '${live}'`)
  ).rows[0] as { s: string } | undefined;
  if (exists && Number(exists.s) > sizeMb * 0.9 * 1024 * 1024) {
    log(`reusing ${live} (${(Number(exists.s) / 1048576).toFixed(0)} MB)`);
    return;
  }
  await q('postgres', `drop database if exists ${live} with (force)`);
  await q('postgres', `create database ${live}`);
  log(`generating ${live} (~${sizeMb} MB)…`);
  await q(
    live,
    `create table tenants (id serial primary key, name text not null unique, created_at timestamptz not null default now())`,
  );
  await q(live, `insert into tenants (name) select 'tenant-' || g from generate_series(1, 100) g`);
  // The fixture's shape: invoices, import items and POS payments, each about a third of the data
  // (pg_dump/pg_restore -j parallelise per table, so the shape matters; one giant table gains nothing).
  await q(
    live,
    `create table invoices (id bigserial primary key, tenant_id int not null references tenants(id), total_cents int not null, estado text not null, created_at timestamptz not null default now(), note text)`,
  );
  await q(
    live,
    `create table import_items (id bigserial primary key, batch_id int not null, payload text not null, status text not null, updated_at timestamptz not null default now())`,
  );
  await q(
    live,
    `create table pos_payments (id bigserial primary key, invoice_id bigint not null, provider text not null, reference text not null, status text not null)`,
  );
  await q(live, `create table alembic_version (version_num varchar(32) primary key)`);
  await q(live, `insert into alembic_version values ('0004_imports_payments')`);
  // ~150 bytes a row with its index.
  const rows = Math.round((sizeMb * 1024 * 1024) / 150 / 3);
  const fill: Record<string, (from: number, to: number) => string> = {
    invoices: (a, b) =>
      `insert into invoices (tenant_id, total_cents, estado, note) select 1 + g % 100, g % 100000, (array['pendiente','autorizada','rechazada'])[1 + g % 3], md5(g::text) || md5((g * 7)::text) from generate_series(${a}, ${b}) g`,
    import_items: (a, b) =>
      `insert into import_items (batch_id, payload, status) select g % 1000, md5(g::text) || md5((g * 3)::text) || md5((g * 5)::text), 'done' from generate_series(${a}, ${b}) g`,
    pos_payments: (a, b) =>
      `insert into pos_payments (invoice_id, provider, reference, status) select g, 'stripe', 'pay-' || md5(g::text) || md5((g * 11)::text), case when g % 4 = 0 then 'failed' else 'succeeded' end from generate_series(${a}, ${b}) g`,
  };
  for (const [table, sqlFor] of Object.entries(fill)) {
    for (let done = 0; done < rows; done += 1_000_000) {
      const n = Math.min(1_000_000, rows - done);
      await q(live, sqlFor(done + 1, done + n));
      log(`  ${table}: ${done + n} / ${rows} rows`);
    }
  }
  await q(live, 'vacuum analyze');
}
