import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManagedComment, settingClause } from '../../src/activities/databases.js';
import { copyRows } from '../../src/activities/digest.js';
import { diffSchemas, normaliseSchema, tableDataEntries } from '../../src/activities/pgtools.js';
import { meets } from '../../src/activities/smoke.js';
import { chaosInterceptors, parseChaos } from '../../src/util/chaos.js';
import { renderProcedure } from '../../src/print.js';
import { TargetRegistry } from '../../src/targets.js';
import { dbName, dropFor } from '../../src/runbooks/shared/database-safety.js';
import { lostSummary } from '../../src/runbooks/shared/database-texts.js';
import { tmpDir } from '../support/harness.js';

describe('schema comparison', () => {
  const dump = [
    '--',
    '-- PostgreSQL database dump',
    '--',
    '\\restrict abc123',
    'SET statement_timeout = 0;',
    "SELECT pg_catalog.set_config('search_path', '', false);",
    'CREATE TABLE public.invoices (',
    '    id integer NOT NULL,',
    '    estado text',
    ');',
    '',
    'ALTER TABLE public.invoices OWNER TO postgres;',
    'CREATE INDEX ix_invoices_estado ON public.invoices USING btree (estado);',
    "SELECT pg_catalog.setval('public.invoices_id_seq', 12, true);",
    '\\unrestrict abc123',
    '',
  ].join('\n');
  it('keeps statements, drops comments, SET lines, owners, sequence positions and the \\restrict key', () => {
    expect(normaliseSchema(dump)).toEqual([
      'CREATE TABLE public.invoices ( id integer NOT NULL, estado text )',
      'CREATE INDEX ix_invoices_estado ON public.invoices USING btree (estado)',
    ]);
  });
  it('reports what one side has that the other lacks', () => {
    const live = normaliseSchema(dump);
    expect(diffSchemas(live, [live[0]!], 'a fresh build of 0004')).toEqual({
      same: false,
      extra: [live[1]],
      missing: [],
      reference: 'a fresh build of 0004',
    });
    expect(diffSchemas(live, live, 'x').same).toBe(true);
  });
  it('drops leftovers that hold no data, and nothing else', () => {
    expect(dropFor('CREATE INDEX ix_invoices_estado ON public.invoices USING btree (estado)')).toBe(
      'DROP INDEX IF EXISTS public.ix_invoices_estado',
    );
    expect(dropFor("ALTER TABLE ONLY public.invoices ADD CONSTRAINT ck_estado CHECK ((estado = 'x'::text))")).toBe(
      'ALTER TABLE public.invoices DROP CONSTRAINT IF EXISTS ck_estado',
    );
    expect(dropFor('CREATE TABLE public.import_items ( id integer )')).toBeUndefined();
  });
});

describe('rows of a dump, read from its files', () => {
  it("counts the rows of COPY data before pg_dump's end marker and the blank lines after it", () => {
    // 3 rows, then "\\." and pg_dump's two blank lines: 6 newlines in all.
    expect(copyRows(6, 'ow 3\n\\.\n\n\n', false)).toBe(3);
    expect(copyRows(3, '\\.\n\n\n', true)).toBe(0);
    expect(copyRows(1, '\\.\n', true)).toBe(0);
  });
  it('counts nothing it does not understand: no end marker, or one that is not at a line start', () => {
    expect(copyRows(5, 'a truncated row\n', false)).toBeNull();
    expect(copyRows(4, 'x\\\\.\n\n\n', false)).toBeNull();
    // At the start of a 16-byte tail of a longer file: the line start is unknown.
    expect(copyRows(9, '\\.\n\n\n', false)).toBeNull();
  });
  it("finds each table's data entry (dump id and table oid) in pg_restore --list", () => {
    const list = [
      ';     dbname: gestiq',
      '3379; 1259 16390 TABLE public tenants postgres',
      '3386; 0 16434 TABLE DATA public alembic_version postgres',
      '3381; 0 16401 TABLE DATA public "my table" postgres',
      '3390; 0 0 SEQUENCE SET public tenants_id_seq postgres',
    ].join('\n');
    expect(tableDataEntries(list)).toEqual([
      { dumpId: '3386', oid: '16434' },
      { dumpId: '3381', oid: '16401' },
    ]);
  });
});

describe('database names and labels', () => {
  it('fits generated names in 63 bytes, lower-case, keeping the suffix', () => {
    const name = dbName(
      'A-Very-Long-Production-Database-Name-That-Goes-On-And-On-Forever',
      'pre_restore',
      '20261124120000',
    );
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^a_very_long_[a-z_]*_pre_restore_20261124120000$/);
  });
  it('recognises only our JSON labels', () => {
    expect(
      parseManagedComment(
        '{"durableRunbooks":1,"kind":"snapshot","target":"t","live":"db","run":"r","createdAt":"2026-11-24T00:00:00Z"}',
      )?.kind,
    ).toBe('snapshot');
    expect(parseManagedComment('live database of target t')).toBeUndefined();
    expect(parseManagedComment('{"kind":"snapshot"}')).toBeUndefined();
    expect(parseManagedComment(null)).toBeUndefined();
  });
  it('writes database settings back as ALTER DATABASE takes them, lists element by element', () => {
    expect(settingClause('statement_timeout=7s')).toBe("SET statement_timeout TO '7s'");
    expect(settingClause('search_path=public, "$user"')).toBe("SET search_path TO 'public', '$user'");
  });
});

describe('what a restore loses, in words', () => {
  it('separates rows written since from tables the backup lacks', () => {
    expect(lostSummary([])).toBe('No row written since in a table the backup has would be lost.');
    expect(
      lostSummary([
        {
          table: 'public.invoices',
          rows: 3,
          inBackup: true,
          newestInLive: '2026-11-24 10:00:00+00',
          newestInBackup: null,
        },
        { table: 'public.import_items', rows: 8, inBackup: false, newestInLive: null, newestInBackup: null },
      ]),
    ).toBe(
      'It would LOSE rows written since: invoices 3 (newest 2026-11-24 10:00:00+00). Tables the backup lacks (created since, e.g. by the failed release) go with their rows: import_items 8.',
    );
  });
});

describe('smoke expectations', () => {
  it.each([
    ['5', '>= 1', true],
    ['0', '>= 1', false],
    ['3', '= 3', true],
    ['3', '!= 3', false],
    ['ok', 'ok', true],
    ['abc', '> 1', false],
  ] as const)('%s %s → %s', (value, expect_, ok) => {
    expect(meets(value, expect_)).toBe(ok);
  });
});

describe('chaos kill points', () => {
  it('parses the four forms, with an optional occurrence, and refuses anything else', () => {
    expect(parseChaos('after:pgSwap')).toEqual({ when: 'after', activity: 'pgSwap', occurrence: 1, delayMs: 0 });
    expect(parseChaos('before:pgRestore#2')).toEqual({
      when: 'before',
      activity: 'pgRestore',
      occurrence: 2,
      delayMs: 0,
    });
    expect(parseChaos('during:pgDumpBackup:300')).toEqual({
      when: 'during',
      activity: 'pgDumpBackup',
      occurrence: 1,
      delayMs: 300,
    });
    expect(parseChaos('beat:importsReenqueue#3:10')).toEqual({
      when: 'beat',
      activity: 'importsReenqueue',
      occurrence: 3,
      delayMs: 10,
    });
    expect(() => parseChaos('during:pgDumpBackup')).toThrow(
      'RUNBOOK_CHAOS="during:pgDumpBackup" is not "before:<activity>", "after:<activity>", "during:<activity>:<ms>" or "beat:<activity>:<n>" (each optionally <activity>#<k>).',
    );
    expect(() => parseChaos('beat:importsReenqueue')).toThrow('is not "before:<activity>"');
    expect(() => parseChaos('after:pgSwap:5')).toThrow('is not "before:<activity>"');
    expect(() => parseChaos('after:pgSwap#0')).toThrow('is not "before:<activity>"');
  });
  const runner = (spec: string, kill: () => void) => {
    const [factory] = chaosInterceptors(spec, kill);
    return (type: string, body: () => Promise<string> = () => Promise.resolve(`${type} done`)) =>
      factory!({ info: { activityType: type } } as never).inbound!.execute!({ args: [], headers: {} }, body);
  };
  it('fires once, only for its activity, after the body ran', async () => {
    let kills = 0;
    const run = runner('after:pgSwap', () => kills++);
    expect(await run('pgPing')).toBe('pgPing done');
    expect(kills).toBe(0);
    expect(await run('pgSwap')).toBe('pgSwap done');
    expect(kills).toBe(1);
    await run('pgSwap');
    expect(kills).toBe(1);
  });
  it('before: fires on the k-th execution, and the body of that one never runs', async () => {
    let kills = 0;
    const ran: number[] = [];
    const run = runner('before:pgQuery#2', () => kills++);
    expect(await run('pgQuery', async () => (ran.push(1), 'first'))).toBe('first');
    expect(kills).toBe(0);
    const second = run('pgQuery', async () => (ran.push(2), 'second'));
    await new Promise((r) => setTimeout(r, 10));
    expect(kills).toBe(1);
    expect(ran).toEqual([1]); // killed before the body: it never ran
    void second;
  });
});

describe('runbook print for the database runbooks', () => {
  it('gives the manual commands of the swap, with both renames in one transaction', () => {
    const file = path.join(tmpDir(), 'targets.yaml');
    writeFileSync(
      file,
      'targets:\n  prod-db:\n    postgres: { host: db.internal, database: gestiq, user: ops, passwordEnv: PW, appUser: gestiq_app }\n    alembic: { dir: /srv/app }\n',
    );
    const text = renderProcedure('migration-failed', {
      name: 'prod-db',
      registry: TargetRegistry.load(file, { PW: 'S3cr3t-pw' }),
    });
    expect(text).toContain(
      'BEGIN; ALTER DATABASE gestiq RENAME TO gestiq_pre_restore_$(date +%Y%m%d%H%M%S); ALTER DATABASE <replacement> RENAME TO gestiq; COMMIT;',
    );
    expect(text).toContain(
      'PGPASSWORD="$PW" psql "host=db.internal port=5432 dbname=postgres user=ops" -Atc "ALTER DATABASE gestiq SET default_transaction_read_only = on"',
    );
    expect(text).toContain(
      'psql "host=db.internal dbname=gestiq user=gestiq_app" -c "create temp table probe (x int)"',
    );
    expect(text).not.toContain('S3cr3t-pw'); // the password value itself never appears
  });
});
