import { chmodSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabaseActivities } from '../src/activities/databases.js';
import { createPgToolActivities } from '../src/activities/pgtools.js';
import { TargetRegistry } from '../src/targets.js';
import { createDatabase, dropDatabase, PG, sql, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { appDatabase, dbTarget, dropAllFor } from './support/databases.js';

// The dump's manifest and the restore's check against it, on real PostgreSQL, through the
// activity code a worker runs (the runbooks around them are tested in their own files); and
// what a backup given by path may be (issue #17: a path could run shell commands on the worker).
describe('backups: manifest rows and the restore check', () => {
  let live: string;
  let tools: ReturnType<typeof createPgToolActivities>;
  let dbs: ReturnType<typeof createDatabaseActivities>;
  let backups: string;
  const products = async (db: string) =>
    (await sql<{ n: number }>(db, 'select count(*)::int as n from products'))[0]!.n;

  beforeAll(async () => {
    live = await appDatabase('0004_imports_payments', 'bkp');
    await sql(
      live,
      `insert into products (tenant_id, sku, price_cents) select 1, 'sku-' || g, g from generate_series(1, 200000) g`,
    );
    backups = tmpDir('bkp-backups-');
    const targets = TargetRegistry.load(
      writeTargets({
        bkp: { ...dbTarget(live), backups: { dir: backups, retention: '1d' } },
        // No backups.dir: dumps go to the worker's data dir, and no backup is read by path.
        'bkp-bare': { postgres: { ...PG, database: live } },
      }),
    );
    tools = createPgToolActivities(targets, tmpDir('bkp-data-'));
    dbs = createDatabaseActivities(targets);
  });
  afterAll(async () => {
    await dropAllFor(live);
  });

  const scratch = async () =>
    (await dbs.pgCreateEmpty('bkp', { name: uniqueName(`${live}_scr`).slice(0, 63), kind: 'scratch', purpose: 'test' }))
      .name;

  it('counts exactly the rows the dump holds while the app keeps writing, and the restore matches them', async () => {
    const before = await products(live);
    // The app writes all along: rows land before, during and after pg_dump's snapshot.
    const writer = new pg.Client({ ...PG, database: live });
    await writer.connect();
    let writing = true;
    let batches = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query(
          `insert into products (tenant_id, sku, price_cents) select 1, 'w-' || gen_random_uuid(), 1 from generate_series(1, 50)`,
        );
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
      expect(manifest.checks).toContain(
        `rows counted in the data files of ${Object.keys(manifest.tables).length} tables`,
      );

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

    const refused = await tools.pgRestoreInto('bkp', { file: manifest.path, scratch: await scratch() }).then(
      () => undefined,
      (err: { type?: string; message: string }) => err,
    );
    expect(refused?.type).toBe('RestoreMismatch');
    expect(refused?.message).toContain(
      `public.products: manifest ${real + 1}, restored ${real}). The live database was not touched.`,
    );
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
    expect(manifest.tables['public.tenants']).toBe(
      (await sql<{ n: number }>(live, 'select count(*)::int as n from tenants'))[0]!.n,
    );
    const restored = await tools.pgRestoreInto('bkp', { file: manifest.path, scratch: await scratch() });
    expect(restored.rows).toEqual(manifest.tables);
  });

  type Failure = { type?: string; message: string };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: Failure) => err,
    );
  /** A small database whose COPY data has lines starting with a backslash (NULL, an escaped backslash), dumped as plain SQL. */
  async function plainDumpOfSmall(file: string): Promise<{ db: string; text: string }> {
    const db = await createDatabase('bkp_small');
    await sql(db, `create table notes (id int primary key, body text)`);
    await sql(
      db,
      `insert into notes values (1, null), (2, E'\\\\! touch /tmp/never'), (3, E'\\\\.'), (4, E'a\\\\b\\nc')`,
    );
    await execa('pg_dump', ['-h', PG.host, '-U', PG.user, '-f', file, db]);
    return { db, text: readFileSync(file, 'utf8') };
  }
  /** The dump with `line` added after its `SET lock_timeout` line, as a file in `dir`. */
  function withLine(text: string, dir: string, name: string, replace: (setLine: string) => string): string {
    const file = path.join(dir, name);
    writeFileSync(file, text.replace(/^SET lock_timeout = 0;$/m, replace));
    return file;
  }

  it('restores a plain SQL dump whose COPY data has lines starting with a backslash: psql reads them as data, not commands', async () => {
    const file = path.join(backups, 'small.sql');
    const { db, text } = await plainDumpOfSmall(file);
    try {
      expect(text).toMatch(/^\\N$|^1\t\\N$/m); // a COPY data line holding the NULL escape
      expect(text).toMatch(/^2\t\\\\! touch/m);
      const into = await scratch();
      const restored = await tools.pgRestoreInto('bkp', { file, scratch: into });
      expect(restored.format).toBe('plain');
      expect(await sql(into, 'select id, body from notes order by id')).toEqual(
        await sql(db, 'select id, body from notes order by id'),
      );
    } finally {
      await dropDatabase(db);
    }
  });

  it('refuses a plain SQL dump holding a psql meta-command, before and at the restore, and the shell command never runs', async () => {
    const { db, text } = await plainDumpOfSmall(path.join(tmpDir('bkp-src-'), 'small.sql'));
    await dropDatabase(db);
    const markers = tmpDir('bkp-markers-');
    // On a line of its own: the scan refuses it, naming the line, before psql is ever started.
    const own = withLine(text, backups, 'own-line.sql', (l) => `${l}\n\\! touch ${markers}/own-line`);
    const verified = await failure(tools.pgVerifyBackup('bkp', own));
    expect(verified?.type).toBe('BackupRefused');
    expect(verified?.message).toMatch(
      /^Backup .*own-line\.sql is refused: line \d+ is a psql meta-command \(`\\!`\), which psql would run on this worker\./,
    );
    expect((await failure(tools.pgRestoreInto('bkp', { file: own, scratch: await scratch() })))?.type).toBe(
      'BackupRefused',
    );
    // After SQL on the same line, where no line scan looks: psql itself refuses it (restricted mode), and the transaction restores nothing.
    const after = withLine(text, backups, 'after-sql.sql', (l) => `${l} \\! touch ${markers}/after-sql`);
    await tools.pgVerifyBackup('bkp', after);
    const into = await scratch();
    const restored = await failure(tools.pgRestoreInto('bkp', { file: after, scratch: into }));
    expect(restored).toMatchObject({
      type: 'BackupRefused',
      message: `Backup ${after} is refused: psql met a meta-command in it and refused it (restricted mode); nothing was restored into "${into}". Use a dump made by pg_dump.`,
    });
    expect(await sql(into, `select to_regclass('public.notes')::text as t`)).toEqual([{ t: null }]);
    expect(readdirSync(markers)).toEqual([]);
  });

  it('refuses a path outside backups.dir with the same words whether it exists or not, and a symlink in backups.dir that points out', async () => {
    const elsewhere = tmpDir('bkp-elsewhere-');
    const { db } = await plainDumpOfSmall(path.join(elsewhere, 'real.sql'));
    await dropDatabase(db);
    const real = path.join(elsewhere, 'real.sql');
    symlinkSync(real, path.join(backups, 'link-out.sql'));
    symlinkSync(path.join(elsewhere, 'nothing.sql'), path.join(backups, 'dangling-out.sql'));
    symlinkSync(elsewhere, path.join(backups, 'dir-out'));
    const words = async (file: string) => {
      const err = await failure(tools.pgVerifyBackup('bkp', file));
      expect(err?.type).toBe('BackupRefused');
      return err!.message.replace(JSON.stringify(file), '<path>');
    };
    const expected = `Backup <path> is refused: backups are read only from target "bkp"'s backups.dir (${backups}). Put the dump there and give its path, or its name inside that directory.`;
    for (const file of [
      real,
      path.join(elsewhere, 'nothing.sql'),
      '/etc/shadow',
      `${backups}/../${path.basename(elsewhere)}/real.sql`,
      path.join(backups, 'link-out.sql'),
      'link-out.sql',
      path.join(backups, 'dangling-out.sql'),
      path.join(backups, 'dir-out', 'real.sql'),
      path.join(backups, 'dir-out', 'nothing.sql'),
    ]) {
      expect(await words(file)).toBe(expected);
    }
    const restore = await failure(tools.pgRestoreInto('bkp', { file: real, scratch: await scratch() }));
    expect(restore?.message).toBe(expected.replace('<path>', JSON.stringify(real)));
    // Inside the directory, missing is said as such; a target without backups.dir reads no path at all.
    expect((await failure(tools.pgVerifyBackup('bkp', 'not-there.sql')))?.message).toBe(
      `Backup "not-there.sql" does not exist in ${backups} on this worker. Give the path of a pg_dump file or directory (custom, directory or plain SQL format) inside it.`,
    );
    expect((await failure(tools.pgVerifyBackup('bkp-bare', real)))?.message).toMatch(
      /^Backup ".*real\.sql" is refused: target "bkp-bare" declares no backups\.dir in .*targets\.yaml, so no backup is read by path\. Declare backups\.dir there and put the dump inside it\.$/,
    );
  });

  it("refuses a dump directory whose manifest names a file outside it, or that holds a symlink out of it, and leaves the victim's mode alone", async () => {
    const manifest = await tools.pgDumpBackup('bkp', { name: 'hostile' });
    const victim = path.join(path.dirname(manifest.path), 'victim'); // the dump's ../victim
    const farVictim = path.join(tmpDir('bkp-victim-'), 'victim'); // outside backups.dir
    for (const v of [victim, farVictim]) {
      writeFileSync(v, 'not yours\n');
      chmodSync(v, 0o644);
    }
    const manifestFile = path.join(manifest.path, 'manifest.json');
    const original = readFileSync(manifestFile, 'utf8');
    const listing = (extra: object) =>
      writeFileSync(manifestFile, JSON.stringify({ ...JSON.parse(original), files: [...manifest.files, extra] }));

    for (const name of ['../victim', farVictim, '..\\victim', '', '..', 'sub/1.dat']) {
      listing({ file: name, bytes: 10, sha256: 'x' });
      const err = await failure(tools.pgVerifyBackup('bkp', manifest.path));
      expect(err).toMatchObject({
        type: 'BackupRefused',
        message: `Backup ${manifest.path} is refused: its manifest.json lists ${JSON.stringify(name)}, which is not a plain file name inside the dump directory. Use another backup.`,
      });
    }
    symlinkSync(farVictim, path.join(manifest.path, '9999.dat'));
    listing({ file: '9999.dat', bytes: 10, sha256: 'x' });
    const err = await failure(tools.pgRestoreInto('bkp', { file: manifest.path, scratch: await scratch() }));
    expect(err).toMatchObject({
      type: 'BackupRefused',
      message: `Backup ${manifest.path} is refused: "9999.dat" in it is not a regular file (a symlink, a directory or a device), and a pg_dump directory dump holds regular files only. Use another backup.`,
    });
    expect([statSync(victim).mode & 0o777, statSync(farVictim).mode & 0o777]).toEqual([0o644, 0o644]);
  });

  it("reads the dumps a run made itself where the target declares no backups.dir (a dry run's copy)", async () => {
    const own = await tools.pgDumpBackup('bkp-bare', { name: 'own' });
    expect((await tools.pgVerifyBackup('bkp-bare', own.path)).checks).toContain(
      `${own.files.length} files match the manifest's sha256`,
    );
  });
});
