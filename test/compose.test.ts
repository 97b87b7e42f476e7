import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { serviceCommand, serviceVars } from '../src/cluster/services.js';
import { repoRoot } from './support/harness.js';

// No Docker engine here: Debian's docker-compose (v1.29) validates and renders the file.
const compose = (env: Record<string, string>) =>
  execa('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
    cwd: repoRoot,
    reject: false,
    env,
    extendEnv: false,
  });

interface Service {
  image?: string;
  build?: unknown;
  ports?: Array<string | { published: number | string; target: number }>;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

const keys = {
  TEMPORAL_DB_PASSWORD: 'compose-test-pw',
  RUNBOOK_PAYLOAD_KEY: 'a'.repeat(64),
  RUNBOOK_DECISION_KEY: 'b'.repeat(64),
  RUNBOOK_DECISION_PUBLIC_KEY: 'c'.repeat(64),
};

describe('docker-compose.yml', () => {
  it('declares Temporal 1.29 on PostgreSQL, its UI, and our worker and API', async () => {
    const r = await compose({ ...keys, PATH: process.env.PATH ?? '' });
    expect(r.stderr).toBe('');
    const { services } = parse(r.stdout) as { services: Record<string, Service> };
    expect(Object.keys(services).sort()).toEqual([
      'api',
      'postgresql',
      'temporal',
      'temporal-namespace',
      'temporal-schema',
      'temporal-ui',
      'worker',
    ]);
    expect(services.temporal!.image).toMatch(/^temporalio\/server:1\.29\.\d+$/);
    expect(services['temporal-schema']!.image).toMatch(/^temporalio\/admin-tools:1\.29\.\d+$/);
    expect(JSON.stringify(services)).not.toContain('auto-setup');
    expect(services.temporal!.depends_on!['temporal-schema']!.condition).toBe('service_completed_successfully');
    expect(services.temporal!.environment).toMatchObject({
      DB: 'postgres12',
      POSTGRES_SEEDS: 'postgresql',
      POSTGRES_PWD: 'compose-test-pw',
    });
    // Security model: Temporal's frontend is not published; the UI and the API only on loopback.
    // docker-compose renders a port with a host address as a string, one without as an object.
    const ports = (s: string) =>
      (services[s]!.ports ?? []).map((p) =>
        typeof p === 'string' ? p.replace(/\/tcp$/, '') : `*:${p.published}:${p.target}`,
      );
    expect(ports('temporal')).toEqual([]);
    expect(ports('temporal-ui')).toEqual(['127.0.0.1:8233:8080']);
    expect(ports('api')).toEqual(['127.0.0.1:8080:8080']);
    // The signing key on the API only; the worker verifies with the public key; payloads encrypted on both.
    expect(services.api!.environment).toMatchObject({
      RUNBOOK_DECISION_KEY: keys.RUNBOOK_DECISION_KEY,
      RUNBOOK_PAYLOAD_KEY: keys.RUNBOOK_PAYLOAD_KEY,
      RUNBOOK_API_TOKENS: '/etc/runbooks/api-tokens.json',
    });
    expect(services.worker!.environment).toMatchObject({
      RUNBOOK_DECISION_PUBLIC_KEY: keys.RUNBOOK_DECISION_PUBLIC_KEY,
      RUNBOOK_PAYLOAD_KEY: keys.RUNBOOK_PAYLOAD_KEY,
    });
    expect(services.worker!.environment).not.toHaveProperty('RUNBOOK_DECISION_KEY');
    // Targets' credentials on the worker only: the API knows target names, never their passwords.
    expect(services.worker!.environment).toHaveProperty('GESTIQ_DB_PASSWORD');
    expect(
      Object.keys(services.api!.environment!).filter(
        (k) => /PASSWORD|SECRET|TOKEN/.test(k) && !k.startsWith('RUNBOOK_OIDC_') && k !== 'RUNBOOK_API_TOKENS',
      ),
    ).toEqual([]);
    for (const s of ['worker', 'api']) {
      expect(services[s]!.environment).toMatchObject({
        TEMPORAL_ADDRESS: 'temporal:7233',
        RUNBOOK_TARGETS: '/etc/runbooks/targets.yaml',
      });
    }
    expect(services.worker!.build).toBeDefined();
  });

  it('runs our processes as npm run cluster does: the compiled entry points, with every variable they read', async () => {
    const r = await compose({ ...keys, PATH: process.env.PATH ?? '' });
    const { services } = parse(r.stdout) as { services: Record<string, Service & { command?: string[] }> };
    for (const role of ['worker', 'api'] as const) {
      expect(services[role]!.command).toEqual(serviceCommand[role]);
      expect(
        Object.keys(services[role]!.environment!)
          .filter((k) => k.startsWith('TEMPORAL_') || k.startsWith('RUNBOOK_'))
          .filter((k) => !k.startsWith('RUNBOOK_OIDC_'))
          .sort(),
      ).toEqual([...serviceVars[role]].sort());
    }
    // mTLS: each client its own certificate from the CA the frontend requires; the frontend not published.
    expect(services.temporal!.environment).toMatchObject({
      TEMPORAL_TLS_REQUIRE_CLIENT_AUTH: 'true',
      TEMPORAL_TLS_CLIENT1_CA_CERT: '/certs/ca.crt',
      TEMPORAL_TLS_FRONTEND_CERT: '/certs/frontend.crt',
    });
    expect(services.worker!.environment).toMatchObject({
      TEMPORAL_TLS_CA: '/certs/ca.crt',
      TEMPORAL_TLS_CERT: '/certs/client-worker.crt',
      TEMPORAL_TLS_KEY: '/certs/client-worker.key',
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    });
    expect(services.api!.environment).toMatchObject({
      TEMPORAL_TLS_CERT: '/certs/client-api.crt',
      RUNBOOK_STATE_DATABASE_URL: 'postgres://temporal:compose-test-pw@postgresql:5432/runbooks_api_state',
    });
    expect(services['temporal-ui']!.environment).toMatchObject({
      TEMPORAL_TLS_CERT: '/certs/client-ui.crt',
      TEMPORAL_CODEC_ENDPOINT: 'http://localhost:8080/codec',
    });
    // Each service mounts its own certificate and key; the CA's key is mounted nowhere.
    expect(r.stdout).not.toContain('ca.key');
    expect(JSON.stringify((services.worker as { volumes?: unknown }).volumes)).not.toContain('client-api');
    // Dumps on a volume every worker replica sees (RUNBOOK_DATA_DIR/backups).
    expect(services.worker!.environment!.RUNBOOK_DATA_DIR).toBe('/var/lib/runbooks');
    expect(JSON.stringify((services.worker as { volumes?: unknown }).volumes)).toContain('/var/lib/runbooks');
  });

  it('refuses to render without the database password instead of shipping a default one', async () => {
    const r = await compose({ PATH: process.env.PATH ?? '' });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('set TEMPORAL_DB_PASSWORD');
  });
});
