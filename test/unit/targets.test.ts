import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ownEntry, TargetRegistry, TargetsError } from '../../src/targets.js';
import { tmpDir } from '../support/harness.js';

const load = (yaml: string, env: NodeJS.ProcessEnv = {}) => {
  const file = `${tmpDir()}/targets.yaml`;
  writeFileSync(file, yaml);
  return { file, load: () => TargetRegistry.load(file, env) };
};

describe('target registry', () => {
  it('loads the shipped local targets', () => {
    const reg = TargetRegistry.load('targets.local.yaml', {});
    expect(reg.names()).toEqual(['local-db', 'local-redis']);
    expect(reg.info('local-db')).toMatchObject({
      postgres: { host: '127.0.0.1', port: 5432, database: 'test' },
      hasAlembic: true,
    });
  });

  it('names the file, target and field of an invalid value', () => {
    const t = load('targets:\n  prod-db:\n    postgres: { host: db, port: 99999, database: g, user: ops }\n');
    expect(t.load).toThrow(TargetsError);
    expect(t.load).toThrow(`Targets file ${t.file} is invalid:\n  target "prod-db", field postgres.port:`);
  });

  it('names unknown keys, so a typo is not silently ignored', () => {
    const t = load('targets:\n  prod-db:\n    postgres: { host: db, database: g, user: ops, pasword: x }\n');
    expect(t.load).toThrow('target "prod-db", field postgres: unknown key(s) pasword');
  });

  it('refuses a schedules entry for a runbook that changes its target, or an escalation to no runbook', () => {
    const mutating = load('targets:\n  prod-db:\n    schedules:\n      migration-failed: {}\n');
    expect(mutating.load).toThrow(
      'target "prod-db", field schedules.migration-failed: only read-only checks run on a schedule (db-access, observability-check, preflight, redis-health)',
    );
    const typo = load('targets:\n  prod-db:\n    schedules:\n      db-access: { escalate: migration-fail }\n');
    expect(typo.load).toThrow(
      'target "prod-db", field schedules.db-access.escalate: "migration-fail" names no runbook (known: approval-drill,',
    );
    expect(
      load('targets:\n  prod-db:\n    schedules:\n      db-access: { escalate: migration-failed }\n')
        .load()
        .spec('prod-db').schedules,
    ).toEqual({ 'db-access': { escalate: 'migration-failed' } });
  });

  it('refuses remediations that name an unknown finding or an undeclared service, and a login without app.url', () => {
    const typo = load(
      'targets:\n  web:\n    app: { url: "http://127.0.0.1:8000" }\n    remediations:\n      off: { command: "true", fixes: [rate-limit] }\n',
    );
    expect(typo.load).toThrow(
      'target "web", field remediations.off.fixes.0: Invalid option: expected one of "unreachable"|"login-5xx"',
    );
    const svc = load(
      'targets:\n  web:\n    app: { url: "http://127.0.0.1:8000" }\n    remediations:\n      off: { command: "true", fixes: [rate-limited], restart: api }\n',
    );
    expect(svc.load).toThrow(
      'target "web", field remediations.off.restart: "api" is not declared under services (declared: none)',
    );
    const bare = load('targets:\n  web:\n    login: { path: /login }\n');
    expect(bare.load).toThrow('target "web", field login: needs app.url (the login is under it)');
    const ok = load(
      'targets:\n  web:\n    app: { url: "https://u:pw@app.example.com" }\n    login: { origins: ["https://pos.example.com"], probe: { username: ana, passwordEnv: PROBE_PW } }\n    remediations:\n      off: { command: "secret-cmd --token abc", fixes: [rate-limited] }\n',
      { PROBE_PW: 'hunter2' },
    );
    const info = ok.load().info('web');
    expect(info.login).toEqual({
      url: 'https://app.example.com/login',
      origins: ['https://pos.example.com'],
      https: true,
      goodLogin: true,
      cookieDomain: undefined,
      minDaysLeft: 14,
      window: '60s',
      prometheus: false,
    });
    expect(info.remediations).toEqual([
      { name: 'off', fixes: ['rate-limited'], restart: undefined, description: undefined },
    ]);
    expect(JSON.stringify(info)).not.toMatch(/secret-cmd|hunter2|pw@/);
    // What command output is masked with: every secret the target's variables hold on this worker.
    expect(ok.load().secretValues('web')).toEqual(['hunter2']);
    expect(() =>
      load(
        'targets:\n  web:\n    app: { url: "http://a" }\n    login: { probe: { username: ana, passwordEnv: PROBE_PW } }\n',
      )
        .load()
        .checkSecrets('web'),
    ).toThrow('takes its password from PROBE_PW, which is not set');
  });

  it('refuses an imports.retryAs that is not a waiting status (a retried item would never be taken)', () => {
    const t = load('targets:\n  app:\n    imports: { waiting: [pending, queued], retryAs: failed }\n');
    expect(t.load).toThrow(
      `Targets file ${t.file} is invalid:\n  target "app", field imports.retryAs: "failed" is not one of imports.waiting (pending, queued)`,
    );
    expect(load('targets:\n  app:\n    imports: { retryAs: pending }\n').load().spec('app').imports).toMatchObject({
      failed: ['failed'],
      retryAs: 'pending',
    });
  });

  it('refuses a service with no driver', () => {
    const t = load('targets:\n  app:\n    services:\n      api: { health: { http: "http://x/ready" } }\n');
    expect(t.load).toThrow('target "app", field services.api: must name one driver');
  });

  it('says where YAML is broken', () => {
    const t = load('targets:\n  a: [\n');
    expect(t.load).toThrow(/is not valid YAML at line \d/);
  });

  it('says what to do when the file is missing', () => {
    expect(() => TargetRegistry.load('/nonexistent/targets.yaml')).toThrow(
      'Targets file /nonexistent/targets.yaml does not exist. Create it (see README, "The targets file") or set RUNBOOK_TARGETS to its path.',
    );
  });

  it('takes passwords from the named variable and never shows them in what workflows see', () => {
    const t = load(
      'targets:\n  db:\n    postgres: { host: db, database: g, user: ops, passwordEnv: DB_PW }\n    redis: { url: "redis://cache:6379/0", passwordEnv: DB_PW }\n',
      { DB_PW: 's3cr3t/pw' },
    );
    const reg = t.load();
    expect(reg.postgres('db').password).toBe('s3cr3t/pw');
    expect(reg.redisUrl('db')).toBe('redis://:s3cr3t%2Fpw@cache:6379/0');
    expect(JSON.stringify(reg.info('db'))).not.toContain('s3cr3t');
  });

  it('resolves the alembic directory relative to the targets file', () => {
    const t = load('targets:\n  db:\n    alembic: { dir: app }\n');
    expect(t.load().spec('db').alembic!.dir).toBe(`${t.file.replace(/\/targets\.yaml$/, '')}/app`);
  });

  it('refuses names of built-in object properties (constructor, __proto__, toString) as unknown targets', () => {
    const reg = TargetRegistry.load('targets.local.yaml', {});
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(() => reg.spec(name)).toThrow(
        `Target "${name}" is not in targets.local.yaml (known: local-db, local-redis).`,
      );
      expect(() => reg.info(name)).toThrow(TargetsError);
      expect(() => reg.checkSecrets(name)).toThrow(TargetsError);
    }
  });

  it("finds a target's services, remediations and providers by their own names only", () => {
    const t = load(
      'targets:\n  web:\n    app: { url: "http://127.0.0.1:8000" }\n    services:\n      api: { command: { start: "true", stop: "true" } }\n',
    );
    const spec = t.load().spec('web');
    expect(ownEntry(spec.services, 'api')).toBeDefined();
    for (const name of ['constructor', '__proto__', 'toString']) {
      expect(ownEntry(spec.services, name)).toBeUndefined();
      expect(ownEntry(spec.remediations, name)).toBeUndefined();
    }
    expect(t.load().webhookSecret('web', 'constructor')).toBeUndefined();
  });
});
