import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BackupsRoot, confineBackup, isInside, isPlainFileName } from '../../src/activities/backup-paths.js';
import { parseManifest } from '../../src/activities/pgtools.js';
import { PlainSqlScan, restrictedScript, scanPlainSql } from '../../src/activities/plain-sql.js';
import { tmpDir } from '../support/harness.js';

type Failure = { type?: string; message: string };
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: Failure) => err,
  );

describe('a backup path is confined to the backups dir', () => {
  const setup = () => {
    const dir = tmpDir('unit-backups-');
    const elsewhere = tmpDir('unit-elsewhere-');
    writeFileSync(path.join(dir, 'good.dump'), 'x');
    writeFileSync(path.join(elsewhere, 'secret'), 'y'.repeat(1234));
    symlinkSync(path.join(elsewhere, 'secret'), path.join(dir, 'link'));
    symlinkSync(elsewhere, path.join(dir, 'out'));
    symlinkSync(path.join(elsewhere, 'missing'), path.join(dir, 'dangling'));
    mkdirSync(path.join(dir, 'sub'));
    const root: BackupsRoot = { dir, declared: true, target: 'db', targetsFile: '/etc/runbooks.targets.yaml' };
    return { dir, elsewhere, root };
  };

  it('takes a path inside it, absolute or relative to it, as its real path', async () => {
    const { dir, root } = setup();
    expect(await confineBackup(root, path.join(dir, 'good.dump'))).toBe(path.join(dir, 'good.dump'));
    expect(await confineBackup(root, 'good.dump')).toBe(path.join(dir, 'good.dump'));
    expect(await confineBackup(root, 'sub/../good.dump')).toBe(path.join(dir, 'good.dump'));
  });

  it('also through a symlink that is the backups dir itself', async () => {
    const { dir } = setup();
    const alias = path.join(tmpDir('unit-alias-'), 'backups');
    symlinkSync(dir, alias);
    const root: BackupsRoot = { dir: alias, declared: true, target: 'db', targetsFile: 'f' };
    expect(await confineBackup(root, path.join(alias, 'good.dump'))).toBe(path.join(dir, 'good.dump'));
    expect(await confineBackup(root, path.join(dir, 'good.dump'))).toBe(path.join(dir, 'good.dump'));
  });

  it('refuses anything else with the same words, whether it exists or not, and with no size', async () => {
    const { dir, elsewhere, root } = setup();
    const words = async (given: string) => {
      const err = await failure(confineBackup(root, given));
      expect(err?.type).toBe('BackupRefused');
      return err!.message.replace(JSON.stringify(given), '<path>');
    };
    const expected = `Backup <path> is refused: backups are read only from target "db"'s backups.dir (${dir}). Put the dump there and give its path, or its name inside that directory.`;
    for (const given of [
      path.join(elsewhere, 'secret'),
      path.join(elsewhere, 'missing'),
      '/etc/shadow',
      '/no/such/dir/x',
      '../x',
      `${dir}/../${path.basename(elsewhere)}/secret`,
      'link',
      path.join(dir, 'link'),
      'out/secret',
      'out/missing',
      'out/deeper/still/missing',
      'dangling',
      'dangling/x',
      `${dir}-sibling/x`,
    ]) {
      expect(await words(given)).toBe(expected);
    }
  });

  it('names a missing path as missing only inside the dir', async () => {
    const { dir, root } = setup();
    expect(await failure(confineBackup(root, 'sub/none.dump'))).toMatchObject({
      type: 'BackupMissing',
      message: `Backup "sub/none.dump" does not exist in ${dir} on this worker. Give the path of a pg_dump file or directory (custom, directory or plain SQL format) inside it.`,
    });
  });

  it('refuses every path when the target declares no backups.dir, saying to declare one', async () => {
    const { dir } = setup();
    const root: BackupsRoot = {
      dir: path.join(dir, 'never-made'),
      declared: false,
      target: 'db',
      targetsFile: '/etc/runbooks.targets.yaml',
    };
    expect(await failure(confineBackup(root, '/var/backups/x.dump'))).toMatchObject({
      type: 'BackupRefused',
      message:
        'Backup "/var/backups/x.dump" is refused: target "db" declares no backups.dir in /etc/runbooks.targets.yaml, so no backup is read by path. Declare backups.dir there and put the dump inside it.',
    });
  });

  it('refuses what is not a path at all', async () => {
    const { root } = setup();
    for (const given of ['', 'a\0b', 42, { path: 'x' }, undefined])
      expect((await failure(confineBackup(root, given)))?.type).toBe('BackupRefused');
  });

  it('knows inside from a sibling with the same prefix', () => {
    expect(isInside('/srv/backups', '/srv/backups/a')).toBe(true);
    expect(isInside('/srv/backups', '/srv/backups')).toBe(true);
    expect(isInside('/srv/backups', '/srv/backups-old/a')).toBe(false);
    expect(isInside('/srv/backups', '/srv')).toBe(false);
    expect(isInside('/srv/backups', '/srv/backups/..foo')).toBe(true);
  });
});

describe("a manifest's file names", () => {
  it("are pg_dump's plain names, never a path", () => {
    for (const name of ['toc.dat', '1234.dat', '1234.dat.gz', 'blob_5.dat', 'blobs.toc', 'manifest.json', '3.dat.lz4'])
      expect(isPlainFileName(name)).toBe(true);
    for (const name of [
      '',
      '.',
      '..',
      '../victim',
      '/etc/passwd',
      'a/b',
      'a\\b',
      '..\\victim',
      '.hidden',
      'x\0y',
      'C:victim',
      'a b',
      'x'.repeat(256),
      7,
      null,
    ])
      expect(isPlainFileName(name)).toBe(false);
  });

  it('are refused in the manifest itself, before any file is opened', () => {
    const manifest = (files: unknown[]) => JSON.stringify({ files, tables: {} });
    expect(() => parseManifest('/b/d', manifest([{ file: '../victim', bytes: 1, sha256: 'x' }]))).toThrow(
      'Backup /b/d is refused: its manifest.json lists "../victim", which is not a plain file name inside the dump directory. Use another backup.',
    );
    expect(() => parseManifest('/b/d', manifest([{ bytes: 1, sha256: 'x' }]))).toThrow(
      'its manifest.json lists an entry without a name',
    );
    expect(parseManifest('/b/d', manifest([{ file: 'toc.dat', bytes: 1, sha256: 'x' }])).files).toHaveLength(1);
  });

  it('come from a manifest whose text is never quoted back', () => {
    expect(() => parseManifest('/b/d', 'root:x:0:0:root:/root:/bin/bash\n')).toThrow(
      /^Backup \/b\/d is corrupt: its manifest\.json is not valid JSON\. Use another backup\.$/,
    );
    expect(() => parseManifest('/b/d', '{"files": 3}')).toThrow('is not a manifest of durable-runbooks');
  });
});

describe('the scan of a plain SQL dump', () => {
  const scan = (text: string) => {
    const s = new PlainSqlScan();
    return { verdicts: text.split('\n').map((l) => s.line(Buffer.from(l, 'latin1'))), copyBlocks: s.copyBlocks };
  };

  it('reads COPY data as data, up to its \\. line, whatever it starts with', () => {
    const r = scan(
      [
        'COPY public.notes (id, body) FROM stdin;',
        '1\t\\N',
        '\\N\tx',
        '\\\\! touch /tmp/x',
        '\\! not a command in COPY data',
        '\\.',
        'SELECT 1;',
      ].join('\n'),
    );
    expect(r.verdicts).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'pass']);
    expect(r.copyBlocks).toBe(1);
  });

  it('refuses a backslash line outside COPY data, naming the line and the command', () => {
    expect(scan('SET x = 1;\n\\! id > /tmp/pwned').verdicts[1]).toEqual({ line: 2, command: '\\!' });
    expect(scan('COPY t FROM stdin;\n1\n\\.\n\\copy t to program').verdicts[3]).toEqual({ line: 4, command: '\\copy' });
    // A second \. is not in COPY data any more.
    expect(scan('COPY t FROM stdin;\n\\.\n\\.').verdicts[2]).toEqual({ line: 3, command: '\\.' });
    expect(scan('\\unrestrict').verdicts[0]).toEqual({ line: 1, command: '\\unrestrict' });
  });

  it("lets pg_dump's own \\restrict and \\unrestrict lines through, to be dropped", () => {
    expect(scan('\\restrict abcDEF123\nSELECT 1;\n\\unrestrict abcDEF123').verdicts).toEqual(['drop', 'pass', 'drop']);
    expect(scan('\\restrict abc; \\! id').verdicts[0]).toEqual({ line: 1, command: '\\restrict' });
  });

  it('ends COPY data at a CRLF \\. too, and finds COPY however it is spelled', () => {
    expect(scan('copy t from STDIN;\r\n1\r\n\\.\r\n\\! id').verdicts.at(-1)).toEqual({ line: 4, command: '\\!' });
    expect(scan('COPY public.t (a) FROM stdin WITH (FORMAT csv);\n\\N\n\\.').verdicts).toEqual([
      'pass',
      'pass',
      'pass',
    ]);
  });
});

describe('what psql reads of a plain SQL dump', () => {
  const collect = async (gen: AsyncGenerator<Buffer>) => {
    const parts: Buffer[] = [];
    for await (const b of gen) parts.push(b);
    return Buffer.concat(parts).toString('latin1');
  };

  it("starts with our \\restrict, lacks pg_dump's own pair, and is otherwise the file byte for byte", async () => {
    const file = path.join(tmpDir('unit-plain-'), 'd.sql');
    const body = [
      '--',
      '-- PostgreSQL database dump',
      '--',
      '',
      '\\restrict K1',
      '',
      'SET x = 1;\r',
      "CREATE FUNCTION f() RETURNS text AS $$ select E'\\\\d' $$ LANGUAGE sql;",
      'COPY t (a) FROM stdin;',
      '\\N',
      '\\restrict K1',
      '\\.',
      '',
      '\\unrestrict K1',
      'tail without newline',
    ];
    writeFileSync(file, body.join('\n'));
    const expected = ['\\restrict OURKEY', ...body.filter((_, i) => i !== 4 && i !== 13)].join('\n');
    expect(await collect(restrictedScript(file, 'OURKEY'))).toBe(expected);
  });

  it('keeps every byte of a dump larger than its read chunks', async () => {
    const file = path.join(tmpDir('unit-plain-'), 'big.sql');
    const rows = Array.from({ length: 120_000 }, (_, i) => `${i}\t${'x'.repeat(i % 97)}\t\\N`);
    const text = `SET a = 1;\nCOPY t (id, v, n) FROM stdin;\n${rows.join('\n')}\n\\.\n\n`;
    writeFileSync(file, text);
    expect(readFileSync(file).length).toBeGreaterThan(3 << 20);
    expect(await collect(restrictedScript(file, 'K'))).toBe(`\\restrict K\n${text}`);
    expect(await scanPlainSql(file)).toEqual({ copyBlocks: 1, lines: text.split('\n').length - 1 });
  });

  it('takes a key of letters and digits only', async () => {
    await expect(collect(restrictedScript('/dev/null', 'k; \\! id'))).rejects.toThrow(
      'A restrict key is letters and digits only.',
    );
  });
});
