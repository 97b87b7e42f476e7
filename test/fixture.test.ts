import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { alembic, createDatabase, dropDatabase, fixtureApp, sql } from './support/harness.js';

// The gestiq-lite fixture must reproduce the failures the seeds describe, with real alembic
// (Debian's 1.8) on real PostgreSQL: the database runbooks are tested against these states.
describe('gestiq-lite fixture', () => {
  const dbs: string[] = [];
  const fresh = async () => {
    const db = await createDatabase('fixture');
    dbs.push(db);
    return db;
  };
  afterAll(() => Promise.all(dbs.map(dropDatabase)));

  it('upgrades a fresh database to head with seed data in every table', async () => {
    const db = await fresh();
    await alembic(db, ['upgrade', 'head']);
    expect(await sql(db, 'select version_num from alembic_version')).toEqual([
      { version_num: '0005_invoice_estado_check' },
    ]);
    const [counts] = await sql<Record<string, string>>(
      db,
      `select (select count(*) from tenants) t, (select count(*) from products) p, (select count(*) from invoices) i,
      (select count(*) from import_batches) b, (select count(*) from import_items) it, (select count(*) from pos_payments) pp`,
    );
    expect(counts).toEqual({ t: '2', p: '10', i: '12', b: '2', it: '8', pp: '12' });
  });

  it('stops between revisions, half-applied, when a later revision fails (transaction_per_migration + autocommit block)', async () => {
    const db = await fresh();
    await alembic(db, ['upgrade', '0003_invoices']);
    await sql(db, `insert into invoices (tenant_id, total_cents, estado) values (1, 500, 'anulada')`);
    const r = await alembic(db, ['upgrade', 'head']).catch((e: Awaited<ReturnType<typeof execa>>) => e);
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr)).toContain('ck_invoices_estado');
    // 0004 committed, 0005's transactional part rolled back, its autocommit index left behind.
    expect(await sql(db, 'select version_num from alembic_version')).toEqual([
      { version_num: '0004_imports_payments' },
    ]);
    expect(await sql(db, `select indexname from pg_indexes where indexname = 'ix_invoices_estado'`)).toHaveLength(1);
    expect(await sql(db, `select conname from pg_constraint where conname = 'ck_invoices_estado'`)).toHaveLength(0);
    expect(await sql(db, 'select count(*)::int as n from pos_payments')).toEqual([{ n: 13 }]);
  });

  it('has a model column that no migration creates (schema drift)', async () => {
    const db = await fresh();
    await alembic(db, ['upgrade', 'head']);
    const columns = await sql<{ column_name: string }>(
      db,
      `select column_name from information_schema.columns where table_name = 'tenants' order by 1`,
    );
    expect(columns.map((c) => c.column_name)).toEqual(['created_at', 'id', 'name']);
    const models = await execa(
      '/usr/bin/python3',
      ['-c', 'import models; print(",".join(sorted(c.name for c in models.tenants.columns)))'],
      { cwd: fixtureApp },
    );
    expect(models.stdout).toBe('created_at,id,name,name_display');
  });
});
