import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from './support/harness.js';

// No Docker engine here: Debian's docker-compose (v1.29) validates and renders the file.
const compose = (env: Record<string, string>) =>
  execa('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: repoRoot, reject: false, env, extendEnv: false });

interface Service { image?: string; build?: unknown; ports?: Array<{ published: number | string; target: number }>; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }> }

describe('docker-compose.yml', () => {
  it('declares Temporal 1.29 on PostgreSQL, its UI, and our worker and API', async () => {
    const r = await compose({ TEMPORAL_DB_PASSWORD: 'compose-test-pw', PATH: process.env.PATH ?? '' });
    expect(r.stderr).toBe('');
    const { services } = parse(r.stdout) as { services: Record<string, Service> };
    expect(Object.keys(services).sort()).toEqual(['api', 'postgresql', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-ui', 'worker']);
    expect(services.temporal!.image).toMatch(/^temporalio\/server:1\.29\.\d+$/);
    expect(services['temporal-schema']!.image).toMatch(/^temporalio\/admin-tools:1\.29\.\d+$/);
    expect(JSON.stringify(services)).not.toContain('auto-setup');
    expect(services.temporal!.depends_on!['temporal-schema']!.condition).toBe('service_completed_successfully');
    expect(services.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql', POSTGRES_PWD: 'compose-test-pw' });
    const ports = (s: string) => services[s]!.ports!.map((p) => `${p.published}:${p.target}`);
    expect(ports('temporal')).toEqual(['7233:7233']);
    expect(ports('temporal-ui')).toEqual(['8233:8080']);
    expect(ports('api')).toEqual(['8080:8080']);
    for (const s of ['worker', 'api']) {
      expect(services[s]!.environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal:7233', RUNBOOK_TARGETS: '/etc/runbooks/targets.yaml' });
    }
    expect(services.worker!.build).toBeDefined();
  });

  it('refuses to render without the database password instead of shipping a default one', async () => {
    const r = await compose({ PATH: process.env.PATH ?? '' });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('set TEMPORAL_DB_PASSWORD');
  });
});
