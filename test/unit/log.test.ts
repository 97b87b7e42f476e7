import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { apiLogger, jsonLogger } from '../../src/util/log.js';

describe("the worker's JSON log", () => {
  it("masks connection-string passwords and the targets' secret values in messages and fields, errors included", () => {
    const out: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        out.push(chunk.toString());
        done();
      },
    });
    const log = jsonLogger({ level: 'info', secrets: () => ['Tr0ub4dor&3'], destination });
    log.warn('Step dump failed: pg_dump postgres://app:hunter2@db:5432/gestiq refused', {
      runbook: 'migration-failed',
      step: 'dump',
      error: new Error('auth failed for password Tr0ub4dor&3'),
      nested: { env: ['PGPASSWORD=Tr0ub4dor&3'] },
    });
    log.debug('not at this level', {});
    expect(out).toHaveLength(1);
    const entry = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      level: 40,
      process: 'worker',
      runbook: 'migration-failed',
      step: 'dump',
      msg: 'Step dump failed: pg_dump postgres://app:***@db:5432/gestiq refused',
      error: { name: 'Error', message: 'auth failed for password ***' },
      nested: { env: ['PGPASSWORD=***'] },
    });
    expect(out[0]).not.toContain('hunter2');
    expect(out[0]).not.toContain('Tr0ub4dor');
  });
});

describe("the API's JSON log", () => {
  it('logs each request by method, path and route: never its query string, token or cookie', async () => {
    const out: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        out.push(chunk.toString());
        done();
      },
    });
    const app = Fastify({ loggerInstance: apiLogger({ level: 'info', destination }) });
    app.get('/auth/callback', () => ({ ok: true }));
    await app.inject({
      method: 'GET',
      url: '/auth/callback?code=oidc-code-123&state=st-456',
      headers: { authorization: 'Bearer tok-789', cookie: 'rb_session=sess-000' },
    });
    await app.close();
    const lines = out
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === 'incoming request')).toMatchObject({
      process: 'api',
      req: { method: 'GET', path: '/auth/callback', route: '/auth/callback' },
    });
    expect(lines.find((l) => l.msg === 'request completed')).toMatchObject({
      process: 'api',
      res: { statusCode: 200 },
    });
    for (const secret of ['oidc-code-123', 'st-456', 'tok-789', 'sess-000']) expect(out.join('')).not.toContain(secret);
  });
});
