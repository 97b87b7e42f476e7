import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabaseActivities } from '../src/activities/databases.js';
import { createPgToolActivities } from '../src/activities/pgtools.js';
import { TargetRegistry } from '../src/targets.js';
import { PG, sql, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { appDatabase, dbTarget, dropAllFor } from './support/databases.js';

// The dump's manifest and the restore's check against it, on real PostgreSQL, through the
// activity code a worker runs (the runbooks around them are tested in their own files).
describe('backups: manifest rows and the restore check', () => {
  let live: string;
  let tools: ReturnType<typeof createPgToolActivities>;
  let dbs: ReturnType<typeof createDatabaseActivities>;
  let backups: string;
  const products = async (db: string) => (await sql<{ n: number }>(db, 'select count(*)::int as n from products'))[0]!.n;

  beforeAll(async () => {
    live = await appDatabase('0004_imports_payments', 'bkp');
    await sql(live, `insert into products (tenant_id, sku, price_cents) select 1, 'sku-' || g, g from generate_series(1, 200000) g`);
    backups = tmpDir('bkp-backups-');
    const targets = TargetRegistry.load(writeTargets({ bkp: { ...dbTarget(live), backups: { dir: backups, retention: '1d' } } }));
    tools = createPgToolActivities(targets, tmpDir('bkp-data-'));
    dbs = createDatabaseActivities(targets);
  });
  afterAll(async () => {
    await dropAllFor(live);
  });

  const scratch = async () => (await dbs.pgCreateEmpty('bkp', { name: uniqueName(`${live}_scr`).slice(0, 63), kind: 'scratch', purpose: 'test' })).name;

  it('counts exactly the rows the dump holds while the app keeps writing, and the restore matches them', async () => {
    const before = await products(live);
    // The app writes all along: rows land before, during and after pg_dump's snapshot.
    const writer = new pg.Client({ ...PG, database: live });
    await writer.connect();
    let writing = true;
    let batches = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query(`insert into products (tenant_id, sku, price_cents) select 1, 'w-' || gen_random_uuid(), 1 from generate_series(1, 50)`);
        batches++;
      }
    })();
    try {
      while (batches < 3) await new Promise((r) => setImmediate(r));
      const manifest = await tools.pgDumpBackup('bkp', { name: 'under-writes' });
      const atDump = manifest.tables['public.products']!;
      writing = false;
      await writes;
      expect(atDump).toBeGreaterThan(before);
      expect(atDump).toBeLessThan(await products(live));
      expect(manifest.checks).toContain(`rows counted in the data files of ${Object.keys(manifest.tables).length} tables`);

      const into = await scratch();
      const restored = await tools.pgRestoreInto('bkp', { file: manifest.path, scratch: into });
      expect(restored.matchesManifest).toBe(true);
      expect(restored.rows?.['public.products']).toBe(atDump);
      expect(await products(into)).toBe(atDump);
      expect(restored.rows).toEqual(manifest.tables);
    } finally {
      writing = false;
      await writes.catch(() => undefined);
      await writer.end();
    }
  });

  it('refuses a restore whose rows differ from its manifest, naming the table, and leaves the live database alone', async () => {
    const manifest = await tools.pgDumpBackup('bkp', { name: 'tampered' });
    const file = path.join(manifest.path, 'manifest.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { tables: Record<string, number> };
    const real = saved.tables['public.products']!;
    saved.tables['public.products'] = real + 1;
    writeFileSync(file, JSON.stringify(saved));
    const liveRows = await products(live);

    const refused = await tools.pgRestoreInto('bkp', { file: manifest.path, scratch: await scratch() }).then(() => undefined, (err: { type?: string; message: string }) => err);
    expect(refused?.type).toBe('RestoreMismatch');
    expect(refused?.message).toContain(`public.products: manifest ${real + 1}, restored ${real}). The live database was not touched.`);
    expect(await products(live)).toBe(liveRows);
  });

  it('a retry of a restore (a worker killed during or after it) starts again from an empty scratch', async () => {
    const manifest = await tools.pgDumpBackup('bkp', { name: 'retried' });
    const into = await scratch();
    await tools.pgRestoreInto('bkp', { file: manifest.path, scratch: into });
    // The first attempt's leftovers: a row the dump lacks. The retry must not keep it, nor trip on the restored tables.
    await sql(into, `insert into products (tenant_id, sku, price_cents) values (1, 'leftover', 1)`);
    const again = await tools.pgRestoreInto('bkp', { file: manifest.path, scratch: into });
    expect(again.rows).toEqual(manifest.tables);
    expect(await sql(into, `select sku from products where sku = 'leftover'`)).toEqual([]);
  });

  it('counts the rows of a compressed dump from its gzip data files', async () => {
    const manifest = await tools.pgDumpBackup('bkp', { name: 'compressed', compress: 1 });
    expect(readdirSync(manifest.path).filter((f) => f.endsWith('.dat.gz')).length).toBeGreaterThan(0);
    expect(manifest.tables['public.products']).toBe(await products(live));
    expect(manifest.tables['public.tenants']).toBe((await sql<{ n: number }>(live, 'select count(*)::int as n from tenants'))[0]!.n);
    const restored = await tools.pgRestoreInto('bkp', { file: manifest.path, scratch: await scratch() });
    expect(restored.rows).toEqual(manifest.tables);
  });
});
