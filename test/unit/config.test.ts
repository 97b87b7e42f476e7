import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config', () => {
  it('has working defaults for a fresh machine', () => {
    const c = loadConfig({});
    // In this checkout there is no runbooks.targets.yaml, so the shipped local targets are used.
    expect(c).toMatchObject({
      namespace: 'default',
      taskQueue: 'runbooks',
      targetsFile: 'targets.local.yaml',
      api: { host: '127.0.0.1', port: 8080 },
      uiUrl: 'http://127.0.0.1:8233',
      codecOrigins: ['http://127.0.0.1:8233'],
      sessionSameSite: 'Strict',
    });
    expect(c.temporalAddress).toBeUndefined();
  });

  it('stops on an invalid value, naming the variable and what it expects', () => {
    expect(() => loadConfig({ RUNBOOK_API_PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ RUNBOOK_API_PORT: 'eighty' })).toThrow(
      'RUNBOOK_API_PORT="eighty": RUNBOOK_API_PORT must be a port number (1-65535)',
    );
    expect(() => loadConfig({ TEMPORAL_ADDRESS: 'http://temporal' })).toThrow(
      'TEMPORAL_ADDRESS must be host:port, e.g. 127.0.0.1:7233',
    );
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow('LOG_LEVEL must be one of trace, debug, info, warn, error');
    expect(() => loadConfig({ RUNBOOK_CHILD_ENV: 'HTTPS_PROXY,RUNBOOK_PAYLOAD_KEY' })).toThrow(
      "RUNBOOK_CHILD_ENV must not name the worker's own keys",
    );
    expect(() => loadConfig({ RUNBOOK_CHILD_ENV: 'HTTPS_PROXY;rm' })).toThrow(
      'RUNBOOK_CHILD_ENV must be comma-separated variable names',
    );
  });

  it('lists every invalid variable at once', () => {
    try {
      loadConfig({ RUNBOOK_API_PORT: '0', TEMPORAL_UI_PORT: '99999' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain('RUNBOOK_API_PORT="0"');
      expect((err as Error).message).toContain('TEMPORAL_UI_PORT="99999"');
    }
  });

  it("takes a postgres:// URL for the API's shared state, and never shows it in an error", () => {
    expect(loadConfig({}).stateDatabaseUrl).toBeUndefined();
    expect(
      loadConfig({ RUNBOOK_STATE_DATABASE_URL: 'postgres://runbooks:pw@db.internal:5432/runbooks' }).stateDatabaseUrl,
    ).toBe('postgres://runbooks:pw@db.internal:5432/runbooks');
    for (const bad of ['mysql://runbooks:hunter2@db/x', 'db.internal:5432/hunter2']) {
      let message = '';
      try {
        loadConfig({ RUNBOOK_STATE_DATABASE_URL: bad });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain(
        'RUNBOOK_STATE_DATABASE_URL=(value hidden): RUNBOOK_STATE_DATABASE_URL must be a postgres:// URL',
      );
      expect(message).not.toContain('hunter2');
    }
  });

  it('traces only with an OTLP endpoint, to /v1/traces under it unless the traces endpoint is given, and says what a bad one should be', () => {
    expect(loadConfig({}).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      url: 'http://collector:4318/v1/traces',
      serviceName: undefined,
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/otlp',
        OTEL_SERVICE_NAME: 'runbooks-eu',
      }).tracing,
    ).toEqual({ url: 'https://traces.example.com/otlp', serviceName: 'runbooks-eu' });
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      "OTEL_EXPORTER_OTLP_ENDPOINT must be the collector's OTLP/HTTP base URL, e.g. http://otel-collector:4318",
    );
  });

  it('uses the targets file the user names', () => {
    expect(loadConfig({ RUNBOOK_TARGETS: '/etc/runbooks/targets.yaml' }).targetsFile).toBe(
      '/etc/runbooks/targets.yaml',
    );
  });

  it('uses the server the user points at', () => {
    expect(loadConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233' }).temporalAddress).toBe('temporal.internal:7233');
  });

  it("lets the codec be called from the Temporal UI's origin, or the origins the user lists", () => {
    expect(loadConfig({ TEMPORAL_UI_URL: 'https://temporal.example.com/ui/' }).codecOrigins).toEqual([
      'https://temporal.example.com',
    ]);
    expect(loadConfig({ RUNBOOK_CODEC_ORIGINS: 'https://a.example.com, http://127.0.0.1:8233/' }).codecOrigins).toEqual(
      ['https://a.example.com', 'http://127.0.0.1:8233'],
    );
    // Not http(s): their origin would be "null", which any sandboxed page can send.
    for (const bad of ['a.example.com', 'localhost:8233', 'file:///x', 'javascript:x']) {
      expect(() => loadConfig({ RUNBOOK_CODEC_ORIGINS: bad })).toThrow(
        'RUNBOOK_CODEC_ORIGINS must be comma-separated http(s) origins, e.g. http://127.0.0.1:8233',
      );
    }
    expect(() => loadConfig({ RUNBOOK_SESSION_SAMESITE: 'strict' })).toThrow(
      'RUNBOOK_SESSION_SAMESITE must be Strict, Lax or None',
    );
    expect(() => loadConfig({ RUNBOOK_SESSION_SAMESITE: 'None' })).toThrow(
      'RUNBOOK_SESSION_SAMESITE=None: browsers keep such a cookie only over https',
    );
    expect(
      loadConfig({ RUNBOOK_SESSION_SAMESITE: 'None', RUNBOOK_PUBLIC_URL: 'https://runbooks.example.com' })
        .sessionSameSite,
    ).toBe('None');
  });
});
