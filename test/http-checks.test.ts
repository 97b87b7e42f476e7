import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceActivities } from '../src/activities/services.js';
import { createSmokeActivities } from '../src/activities/smoke.js';
import { TargetRegistry } from '../src/targets.js';
import { writeTargets } from './support/harness.js';

// The HTTP side of health and smoke checks, against a real local HTTP server: /ready answers 200,
// /starting 503; a closed port refuses.
describe('HTTP health and smoke checks', () => {
  let server: http.Server;
  let base: string;
  let targets: TargetRegistry;

  beforeAll(async () => {
    server = http.createServer((req, res) => res.writeHead(req.url === '/ready' ? 200 : 503).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const svc = (path: string) => ({
      command: { start: 'true', stop: 'true', status: 'true' },
      health: { http: `${base}${path}`, timeout: '1s' },
    });
    targets = TargetRegistry.load(
      writeTargets({
        app: {
          services: { api: svc('/ready'), booting: svc('/starting') },
          smoke: [
            { name: 'ready', http: `${base}/ready`, expect: 200 },
            { name: 'starting', http: `${base}/starting`, expect: 200 },
            { name: 'closed port', http: 'http://127.0.0.1:1/ready', expect: 200 },
          ],
        },
      }),
    );
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a restart is healthy only once the health URL answers 2xx, and says what it got otherwise', async () => {
    const services = createServiceActivities(targets);
    const ok = await services.serviceAction('app', 'api', 'restart');
    expect(ok.checks).toEqual([
      { check: 'running', ok: true, detail: expect.any(String) as unknown },
      { check: 'http', ok: true, detail: `GET ${base}/ready → 200` },
    ]);
    const err = await services.serviceAction('app', 'booting', 'restart').then(
      () => undefined,
      (e: Error & { type?: string }) => e,
    );
    expect(err?.type).toBe('ServiceUnhealthy');
    expect(err?.message).toContain(`http: GET ${base}/starting → 503`);
  });

  it('smoke checks pass on the expected status and fail, with what they got, on another or on no answer', async () => {
    const results = await createSmokeActivities(targets).smokeChecks('app');
    expect(results.map((r) => [r.name, r.ok, r.got])).toEqual([
      ['ready', true, '200'],
      ['starting', false, '503'],
      ['closed port', false, expect.stringMatching(/^error: /) as unknown],
    ]);
  });
});
