import { describe, expect, it } from 'vitest';
import { parseHistory, parseRevisions, sqlalchemyUrl } from '../../src/activities/alembic.js';
import { childEnv } from '../../src/activities/child-env.js';
import { newRunId, runState } from '../../src/client.js';
import { redact, trimOutput } from '../../src/util/redact.js';
import { migrationState } from '../../src/runbooks/db-access/workflow.js';

describe('run status table', () => {
  it.each([
    ['RUNNING', 'diagnosing', 'running'],
    ['RUNNING', 'awaiting-approval', 'waiting'],
    ['RUNNING', 'awaiting-input', 'waiting'],
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
    expect(
      parseRevisions('INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\nab12 (head)\ncd34 (head)'),
    ).toEqual(['ab12', 'cd34']);
  });
  it('reads every known revision from history', () => {
    expect(parseHistory('0002_products -> 0003_invoices (head), invoices\n<base> -> 0001_tenants, tenants')).toEqual([
      '0003_invoices',
      '0001_tenants',
    ]);
  });
  it('url-encodes credentials in the SQLAlchemy URL', () => {
    expect(sqlalchemyUrl({ host: 'db', port: 5432, user: 'ops', password: 'p@ss:w/rd' }, 'gestiq')).toBe(
      'postgresql+psycopg2://ops:p%40ss%3Aw%2Frd@db:5432/gestiq',
    );
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
    expect(redact('could not connect to postgresql://ops:hunter2@db:5432/g')).toBe(
      'could not connect to postgresql://ops:***@db:5432/g',
    );
    expect(redact('host=db password=hunter2 user=ops')).toBe('host=db password=*** user=ops');
    expect(redact('auth failed for hunter2', ['hunter2'])).toBe('auth failed for ***');
  });
  it('trims long output to its last lines', () => {
    const out = trimOutput(Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n'), 5);
    expect(out.split('\n')).toEqual(['… (25 lines before)', 'line 25', 'line 26', 'line 27', 'line 28', 'line 29']);
  });
});

describe('child process environment', () => {
  const worker = {
    PATH: '/opt/pg/bin:/usr/bin',
    HOME: '/home/ops',
    LANG: 'C.UTF-8',
    LC_TIME: 'en_GB.UTF-8',
    TZ: 'UTC',
    PROD_DB_PASSWORD: 'prod-pw',
    RUNBOOK_PAYLOAD_KEY: 'k1:abc',
    RUNBOOK_DECISION_KEY: 'def',
    HTTPS_PROXY: 'http://proxy:3128',
    DEPLOY_TOKEN: 'tok',
  };

  it('keeps only the base a program expects (PATH, HOME, locale, time zone), never a password or a key', () => {
    expect(childEnv({}, { env: worker })).toEqual({
      PATH: '/opt/pg/bin:/usr/bin',
      HOME: '/home/ops',
      LANG: 'C.UTF-8',
      LC_TIME: 'en_GB.UTF-8',
      TZ: 'UTC',
    });
  });

  it("adds what the child needs, the names passed (a target's passEnv) and RUNBOOK_CHILD_ENV's names, but never the worker's own keys", () => {
    const env = { ...worker, RUNBOOK_CHILD_ENV: 'HTTPS_PROXY, RUNBOOK_PAYLOAD_KEY,not a name' };
    const child = childEnv(
      { PGPASSWORD: 'prod-pw', PGHOST: 'db', UNSET: undefined },
      { env, pass: ['DEPLOY_TOKEN', 'RUNBOOK_DECISION_KEY', 'MISSING'] },
    );
    expect(child).toMatchObject({
      PGPASSWORD: 'prod-pw',
      PGHOST: 'db',
      HTTPS_PROXY: 'http://proxy:3128',
      DEPLOY_TOKEN: 'tok',
    });
    expect(Object.keys(child)).not.toContain('RUNBOOK_PAYLOAD_KEY');
    expect(Object.keys(child)).not.toContain('RUNBOOK_DECISION_KEY');
    expect(Object.keys(child)).not.toContain('PROD_DB_PASSWORD');
    expect(Object.keys(child)).not.toContain('UNSET');
  });

  it('gives a child a usable PATH even when the worker has none', () => {
    expect(childEnv({}, { env: {} })).toEqual({ PATH: '/usr/local/bin:/usr/bin:/bin' });
  });
});
