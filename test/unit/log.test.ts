import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { jsonLogger } from '../../src/util/log.js';

describe('the worker\'s JSON log', () => {
  it('masks connection-string passwords and the targets\' secret values in messages and fields, errors included', () => {
    const out: string[] = [];
    const destination = new Writable({ write(chunk: Buffer, _enc, done) { out.push(chunk.toString()); done(); } });
    const log = jsonLogger({ level: 'info', secrets: () => ['Tr0ub4dor&3'], destination });
    log.warn('Step dump failed: pg_dump postgres://app:hunter2@db:5432/gestiq refused', { runbook: 'migration-failed', step: 'dump', error: new Error('auth failed for password Tr0ub4dor&3'), nested: { env: ['PGPASSWORD=Tr0ub4dor&3'] } });
    log.debug('not at this level', {});
    expect(out).toHaveLength(1);
    const entry = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 40, process: 'worker', runbook: 'migration-failed', step: 'dump', msg: 'Step dump failed: pg_dump postgres://app:***@db:5432/gestiq refused', error: { name: 'Error', message: 'auth failed for password ***' }, nested: { env: ['PGPASSWORD=***'] } });
    expect(out[0]).not.toContain('hunter2');
    expect(out[0]).not.toContain('Tr0ub4dor');
  });
});
