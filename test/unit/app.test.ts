import { describe, expect, it } from 'vitest';
import { classifyNetError, endpointOf } from '../../src/activities/app.js';
import { actionCommands } from '../../src/activities/services.js';
import { checkComposePorts, ComposeFileError, parsePortEntry } from '../../src/util/compose-ports.js';
import { KEY_METRICS, parseExposition, total } from '../../src/util/prometheus.js';
import { diagnoseConnection } from '../../src/runbooks/connection-refused/workflow.js';
import { judgeObservability } from '../../src/runbooks/observability-check/workflow.js';

describe('compose port mappings', () => {
  it('reads the short and long forms, ranges, host addresses and protocols', () => {
    expect(parsePortEntry('8000:8000')).toEqual([
      { hostIp: undefined, published: 8000, target: 8000, protocol: 'tcp', text: '8000:8000' },
    ]);
    expect(parsePortEntry('127.0.0.1:8080:8000/tcp')[0]).toMatchObject({
      hostIp: '127.0.0.1',
      published: 8080,
      target: 8000,
    });
    expect(parsePortEntry('8000')[0]).toMatchObject({ published: undefined, target: 8000 });
    expect(parsePortEntry(8000)[0]).toMatchObject({ published: undefined, target: 8000 });
    expect(parsePortEntry('127.0.0.1::8000')[0]).toMatchObject({
      hostIp: '127.0.0.1',
      published: undefined,
      target: 8000,
    });
    expect(parsePortEntry('9000-9001:8000-8001').map((m) => [m.published, m.target])).toEqual([
      [9000, 8000],
      [9001, 8001],
    ]);
    expect(parsePortEntry('5353:53/udp')[0]).toMatchObject({ protocol: 'udp' });
    expect(parsePortEntry({ target: 8000, published: '8000', host_ip: '0.0.0.0' })[0]).toMatchObject({
      hostIp: '0.0.0.0',
      published: 8000,
      target: 8000,
    });
    expect(() => parsePortEntry('http:8000')).toThrow(ComposeFileError);
  });

  it('says what is wrong with the seeds\' ports: ["8000:8000"], and gives the YAML that fixes it', () => {
    const file = (ports: string) => `services:\n  app:\n    image: gestiq\n${ports}\n  db:\n    image: postgres\n`;
    expect(checkComposePorts(file('    ports: ["8000:8000"]'), 'app', 8000)).toMatchObject({ ok: true });
    const none = checkComposePorts(file(''), 'app', 8000);
    expect(none).toMatchObject({
      ok: false,
      problem: 'service "app" publishes no ports: nothing outside the container reaches port 8000',
    });
    expect(none.fix).toBe('services:\n  app:\n    ports:\n      - "8000:8000"');
    expect(checkComposePorts(file('    ports: ["8080:8000"]'), 'app', 8000).problem).toBe(
      '"8080:8000" maps host port 8080 to container port 8000, not 8000 → 8000',
    );
    expect(checkComposePorts(file('    ports: ["8000"]'), 'app', 8000).problem).toBe(
      '"8000" publishes container port 8000 on a random host port, not 8000',
    );
    expect(checkComposePorts(file('    ports: ["9000:9000"]'), 'app', 8000).problem).toBe(
      'no mapping to container port 8000 (has: 9000:9000)',
    );
    expect(checkComposePorts(file('    ports: ["8000:8000/udp"]'), 'app', 8000).ok).toBe(false);
    expect(checkComposePorts(file('    network_mode: host'), 'app', 8000).ok).toBe(true);
    expect(checkComposePorts(file(''), 'api', 8000).problem).toBe(
      'service "api" is not in the file (services: app, db)',
    );
  });

  it('refuses files that are not compose YAML, saying why', () => {
    expect(() => checkComposePorts('services: [unclosed', 'app', 8000)).toThrow(/not valid YAML/);
    expect(() => checkComposePorts('version: "3"\n', 'app', 8000)).toThrow('no top-level "services:" mapping');
    expect(() => checkComposePorts('services:\n  app:\n    ports: "8000:8000"\n', 'app', 8000)).toThrow(
      'services.app.ports is not a list',
    );
  });

  it("recreate is compose's up --force-recreate of the one service; a restart for the other drivers", () => {
    expect(actionCommands({ compose: { file: '/srv/dc.yml', service: 'app' } }, 'recreate')[0]!.shown).toBe(
      'docker compose -f /srv/dc.yml up -d --no-deps --force-recreate app',
    );
    expect(actionCommands({ systemd: 'gestiq-api' }, 'recreate')[0]!.argv).toEqual([
      'systemctl',
      'restart',
      'gestiq-api',
    ]);
    expect(actionCommands({ command: { start: 'a', stop: 'b' } }, 'recreate').map((c) => c.argv[2])).toEqual([
      'b',
      'a',
    ]);
  });
});

describe('Prometheus exposition', () => {
  const text = [
    '# HELP gestiq_auth_failures_total Auth failures.',
    '# TYPE gestiq_auth_failures_total counter',
    'gestiq_auth_failures_total{status="401"} 7',
    'gestiq_auth_failures_total{status="403"} 2',
    '# TYPE gestiq_einvoice_latency_seconds histogram',
    'gestiq_einvoice_latency_seconds_bucket{le="0.5"} 3',
    'gestiq_einvoice_latency_seconds_bucket{le="+Inf"} 4',
    'gestiq_einvoice_latency_seconds_sum 2.5',
    'gestiq_einvoice_latency_seconds_count 4',
    'process_open_fds 12 1700000000000',
  ].join('\n');

  it('groups samples into families (histogram suffixes included) and totals them', () => {
    const f = parseExposition(text);
    expect([...f.keys()].sort()).toEqual([
      'gestiq_auth_failures_total',
      'gestiq_einvoice_latency_seconds',
      'process_open_fds',
    ]);
    expect(total(f.get('gestiq_auth_failures_total'))).toBe(9);
    expect(total(f.get('gestiq_auth_failures_total'), { status: '403' })).toBe(2);
    expect(f.get('gestiq_einvoice_latency_seconds')!.samples).toHaveLength(4);
    expect(total(f.get('gestiq_einvoice_latency_seconds'))).toBe(4);
    expect(total(f.get('nope'))).toBeUndefined();
    expect(Object.values(KEY_METRICS)).toContain('gestiq_auth_failures_total');
  });
});

describe('network errors', () => {
  it('classifies refused, DNS, timeout and TLS failures from fetch', () => {
    const fetchFailed = (code: string) =>
      Object.assign(new TypeError('fetch failed'), { cause: { code, message: `${code} detail` } });
    expect(classifyNetError(fetchFailed('ECONNREFUSED')).kind).toBe('refused');
    expect(classifyNetError(fetchFailed('ENOTFOUND')).kind).toBe('dns');
    expect(classifyNetError(fetchFailed('CERT_HAS_EXPIRED'))).toEqual({
      kind: 'tls',
      code: 'CERT_HAS_EXPIRED',
      detail: 'CERT_HAS_EXPIRED detail',
    });
    expect(classifyNetError(fetchFailed('ERR_TLS_CERT_ALTNAME_INVALID')).kind).toBe('tls');
    expect(
      classifyNetError(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }))
        .kind,
    ).toBe('timeout');
    expect(endpointOf('https://gestiq.example')).toEqual({ host: 'gestiq.example', port: 443 });
    expect(endpointOf('http://[::1]:8000/x')).toEqual({ host: '::1', port: 8000 });
  });
});

describe('connection-refused diagnosis', () => {
  const probe = (outcome: 'open' | 'refused' | 'dns') => ({
    host: '127.0.0.1',
    port: 8000,
    outcome,
    ms: 1,
    detail: outcome,
  });
  const svc = (running: boolean | null) => ({
    target: 't',
    service: 'api',
    driver: 'command' as const,
    running,
    detail: 'status',
  });
  it('names the cause: service down, port not published, nothing listening, up but not ready, DNS', () => {
    expect(diagnoseConnection(probe('refused'), undefined, svc(false), undefined)).toEqual([
      'The app\'s service "api" is not running (status).',
    ]);
    const ports = {
      file: '/dc.yml',
      service: 'app',
      ok: false,
      mappings: [],
      problem: 'service "app" publishes no ports',
      fix: 'services: …',
    };
    expect(diagnoseConnection(probe('refused'), undefined, svc(true), ports)[0]).toMatch(
      /^The port is not published as users connect: service "app" publishes no ports\. Fix in \/dc\.yml:/,
    );
    expect(diagnoseConnection(probe('refused'), undefined, svc(true), undefined)[0]).toMatch(
      /^Nothing listens on 127\.0\.0\.1:8000 although the service runs/,
    );
    expect(
      diagnoseConnection(
        probe('open'),
        { path: '/ready', status: 503, ms: 1, headers: {}, body: '' },
        svc(true),
        undefined,
      )[0],
    ).toMatch(/answers 503: the app is up but not ready/);
    expect(diagnoseConnection(probe('dns'), undefined, undefined, undefined)[0]).toMatch(/does not resolve/);
  });
});

describe('observability verdict', () => {
  const ready = { path: '/ready', status: 200, ms: 3, headers: {}, body: '{}' };
  const metrics = {
    http: { ...ready, path: '/metrics' },
    families: 8,
    keyMetrics: [{ key: 'auth-failures', family: 'gestiq_auth_failures_total', present: true, total: 0 }],
    missing: [],
  };
  const trace = {
    requestId: 'rb-1',
    status: 200,
    echoed: true,
    line: 'request_id=rb-1',
    source: '/var/log/app.log',
    detail: 'found',
  };
  it('healthy when ready, every key metric exposed and the request id followed into the logs', () => {
    expect(judgeObservability({ ready, metrics, requestId: trace }).healthy).toBe(true);
  });
  it('says what is missing, and what it could not check', () => {
    const v = judgeObservability({
      ready,
      metrics: { ...metrics, missing: ['gestiq_einvoice_latency_seconds'] },
      requestId: { ...trace, line: null, source: null, detail: 'no log source' },
    });
    expect(v.healthy).toBe(false);
    expect(v.lines.join('\n')).toContain('missing key metric(s): gestiq_einvoice_latency_seconds');
    expect(v.notChecked).toEqual(['request id in the logs: no log source']);
  });
});
