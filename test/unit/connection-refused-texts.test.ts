import { describe, expect, it } from 'vitest';
import type { HttpProbe, ServiceStatus, TcpProbe } from '../../src/activities/index.js';
import {
  cannotFix,
  evidenceLines,
  forceRecreatePrompt,
  recreateAction,
} from '../../src/runbooks/connection-refused/texts.js';
import type { ComposeEvidence } from '../../src/runbooks/connection-refused/workflow.js';

const probe = { host: 'app', port: 8000, outcome: 'refused', ms: 2 } as TcpProbe;
const ports = {
  file: 'compose.yml',
  service: 'api',
  ok: false,
  problem: 'publishes 8001, not 8000',
} as ComposeEvidence;

describe("connection-refused's texts", () => {
  it('says each check in one line, and that the service state is unknown without a service', () => {
    const ready = { path: '/ready', status: null, error: { kind: 'timeout', detail: '5s' } } as HttpProbe;
    const service = { service: 'api', driver: 'compose', running: null, detail: 'no container' } as ServiceStatus;
    expect(evidenceLines({ probe, ready, service, ports })).toEqual([
      'TCP app:8000: refused (2 ms).',
      'GET /ready: timeout (5s).',
      'Service api (compose): unknown: no container.',
      'Compose compose.yml, service api: publishes 8001, not 8000.',
    ]);
    expect(evidenceLines({ probe })).toEqual([
      'TCP app:8000: refused (2 ms).',
      'No app.service declared: its state is unknown.',
    ]);
  });

  it('refuses to act on a name that does not resolve, no service or a broken compose file, in that order', () => {
    expect(cannotFix({ probe: { ...probe, outcome: 'dns' } }, false)).toBe('the host name does not resolve');
    expect(cannotFix({ probe, ports: { ...ports, malformed: 'bad yaml' } }, false)).toBe(
      'the target declares no app.service to recreate or restart',
    );
    expect(cannotFix({ probe, ports: { ...ports, malformed: 'bad yaml' } }, true)).toBe(
      'the compose file cannot be used (bad yaml)',
    );
    expect(cannotFix({ probe, ports }, true)).toBeUndefined();
  });

  it('asks to fix an unpublished port before approving the recreate', () => {
    const action = recreateAction({ probe, ports }, { compose: true, service: 'api' });
    expect(action).toBe('docker compose up -d --force-recreate api');
    expect(recreateAction({ probe }, { compose: false, service: 'api' })).toBe(
      'restart api through its service driver',
    );
    expect(forceRecreatePrompt({ url: 'http://app:8000', target: 'prod', why: ['Cause: x'], action, ports })).toBe(
      'http://app:8000 does not answer on prod. Cause: x Plan: docker compose up -d --force-recreate api, then verify the port answers and the app is ready. The compose file does not publish the port: fix it BEFORE approving (the mapping is read again at approval; the recreate is refused while it is still wrong).',
    );
  });
});
