import { describe, expect, it } from 'vitest';
import { parseHistory, parseRevisions, sqlalchemyUrl } from '../../src/activities/alembic.js';
import { newRunId, runState } from '../../src/client.js';
import { redact, trimOutput } from '../../src/util/redact.js';
import { migrationState } from '../../src/workflows/db-access.js';

describe('run status table', () => {
  it.each([
    ['RUNNING', 'diagnosing', 'running'],
    ['RUNNING', 'awaiting-approval', 'waiting'],
    ['COMPLETED', 'completed', 'completed'],
    ['FAILED', 'failed', 'failed'],
    ['CANCELLED', 'acting', 'aborted'],
    ['TERMINATED', 'acting', 'aborted'],
    ['TIMED_OUT', 'acting', 'timed-out'],
  ] as const)('maps Temporal %s (phase %s) to %s', (status, phase, expected) => {
    expect(runState(status, phase)).toBe(expected);
  });
});

describe('run ids', () => {
  it('are unique and sort by start time', () => {
    const a = newRunId('db-access', 'prod-db', 1_700_000_000_000);
    const b = newRunId('db-access', 'prod-db', 1_700_000_000_001);
    expect(a).toMatch(/^db-access-prod-db-[0-9a-z]+$/);
    expect(a < b).toBe(true);
    expect(newRunId('x', 'y', 1)).not.toBe(newRunId('x', 'y', 1));
  });
});

describe('alembic output', () => {
  it('reads revisions from heads and current', () => {
    expect(parseRevisions('0003_invoices (head)\n')).toEqual(['0003_invoices']);
    expect(parseRevisions('INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\nab12 (head)\ncd34 (head)')).toEqual(['ab12', 'cd34']);
  });
  it('reads every known revision from history', () => {
    expect(parseHistory('0002_products -> 0003_invoices (head), invoices\n<base> -> 0001_tenants, tenants')).toEqual(['0003_invoices', '0001_tenants']);
  });
  it('url-encodes credentials in the SQLAlchemy URL', () => {
    expect(sqlalchemyUrl({ host: 'db', port: 5432, user: 'ops', password: 'p@ss:w/rd' }, 'gestiq')).toBe('postgresql+psycopg2://ops:p%40ss%3Aw%2Frd@db:5432/gestiq');
  });
});

describe('migration state', () => {
  const code = { heads: ['c'], known: ['c', 'b', 'a'] };
  it.each([
    [['c'], 'up-to-date'],
    [['a'], 'behind'],
    [['zz'], 'unknown-revision'],
    [null, 'not-migrated'],
  ] as const)('applied %j is %s', (applied, expected) => {
    expect(migrationState(applied as string[] | null, code)).toBe(expected);
  });
  it('is unknown without an alembic directory', () => {
    expect(migrationState(['a'], null)).toBe('no-alembic-dir');
  });
});

describe('redaction', () => {
  it('removes passwords from connection strings and known secret values', () => {
    expect(redact('could not connect to postgresql://ops:hunter2@db:5432/g')).toBe('could not connect to postgresql://ops:***@db:5432/g');
    expect(redact('host=db password=hunter2 user=ops')).toBe('host=db password=*** user=ops');
    expect(redact('auth failed for hunter2', ['hunter2'])).toBe('auth failed for ***');
  });
  it('trims long output to its last lines', () => {
    const out = trimOutput(Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n'), 5);
    expect(out.split('\n')).toEqual(['… (25 lines before)', 'line 25', 'line 26', 'line 27', 'line 28', 'line 29']);
  });
});
