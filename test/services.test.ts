import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceActivities, type ServiceEvidence } from '../src/activities/services.js';
import { TargetRegistry } from '../src/targets.js';
import { alembic, createDatabase, dropDatabase, sql, tmpDir, writeTargets } from './support/harness.js';
import { celeryWorkerService, claimRedisDb, killWorker, publishItems, workerFiles } from './support/imports.js';
import { until } from './support/wait.js';

// The service restart adapter: the command driver for real on the fixture's Celery worker;
// systemd and compose as far as this machine allows (no systemd as init, no Docker engine).

type Failure = { type?: string; message: string; details?: unknown[] };
const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: Failure) => err,
  );

describe('service adapter, command driver, on the real Celery imports worker', () => {
  const files = workerFiles(tmpDir('svc-worker-'));
  let db: string;
  let redis: Awaited<ReturnType<typeof claimRedisDb>>;
  let services: ReturnType<typeof createServiceActivities>;
  let registry: TargetRegistry;
  const envDump = path.join(files.dir, 'child.env');
  const pidFile2 = path.join(files.dir, 'pid-file.pid');
  const pid = () => readFileSync(files.pidFile, 'utf8').trim();

  beforeAll(async () => {
    db = await createDatabase('svc');
    await alembic(db, ['upgrade', '0004_imports_payments']);
    redis = await claimRedisDb();
    const bad = (start: string, extra: Record<string, unknown> = {}) => ({
      command: { start, stop: 'true', status: 'false' },
      ...extra,
    });
    const file = writeTargets({
      app: {
        services: {
          'imports-worker': celeryWorkerService(files, db, redis.url),
          failing: bad('echo "cannot read /etc/gestiq/worker.env" >&2; exit 3'),
          hanging: bad('sleep 300.4242', { commandTimeout: '1s' }), // a duration nothing else on the machine sleeps
          silent: {
            command: { start: 'true', stop: 'true', status: 'true' },
            health: { logLine: 'ready', logFile: path.join(files.dir, 'silent.log'), timeout: '2s' },
          },
          'env-dump': { command: { start: `env > '${envDump}'`, stop: 'true', status: 'true' } },
          // A stop written for a running service: it fails when there is no pid file (#20).
          'pid-file': {
            command: {
              start: `nohup sleep 299.4242 >/dev/null 2>&1 & echo $! > '${pidFile2}'`,
              stop: `kill "$(cat '${pidFile2}')" && rm '${pidFile2}'`,
              status: `test -f '${pidFile2}' && kill -0 "$(cat '${pidFile2}')"`,
            },
          },
        },
        passEnv: ['APP_DEPLOY_TOKEN'],
      },
      other: { postgres: { host: '127.0.0.1', database: 'other', user: 'ops', passwordEnv: 'OTHER_DB_PASSWORD' } },
    });
    registry = TargetRegistry.load(file);
    services = createServiceActivities(registry);
  });
  afterAll(async () => {
    await killWorker(files);
    await redis?.release();
    if (db) await dropDatabase(db);
  });

  it('starts the worker and proves it is up (process alive and its app.startup line written after the start)', async () => {
    const ev = await services.serviceAction('app', 'imports-worker', 'start');
    expect(ev).toMatchObject({
      driver: 'command',
      action: 'start',
      verified: true,
      commands: [{ command: 'sh -c <command.start from the targets file>', exitCode: 0 }],
    });
    expect(ev.checks.map((c) => [c.check, c.ok])).toEqual([
      ['running', true],
      ['logLine', true],
    ]);
    expect(ev.checks[1]!.detail).toMatch(/app\.startup: imports worker ready: IMPORTS_ENABLED=1/);
    expect(await services.serviceStatus('app', 'imports-worker')).toMatchObject({ running: true });
    // The started worker does the app's work: a queued item is processed.
    await sql(db, `update import_items set status = 'queued' where id = 1`);
    await publishItems(redis.url, [1]);
    await until(
      async () =>
        (await sql<{ status: string }>(db, 'select status from import_items where id = 1'))[0]!.status === 'done',
      'item 1 done',
    );
  });

  it('restarts it: a new process, and health read from log lines written after the restart only', async () => {
    const before = pid();
    const ev: ServiceEvidence = await services.serviceAction('app', 'imports-worker', 'restart');
    expect(ev.commands.map((c) => c.command)).toEqual([
      'sh -c <command.stop from the targets file>',
      'sh -c <command.start from the targets file>',
    ]);
    expect(ev.verified).toBe(true);
    expect(pid()).not.toBe(before);
    // Two startup lines in the file now; the evidence is the one after the restart's offset.
    expect(readFileSync(files.logFile, 'utf8').match(/imports worker ready/g)).toHaveLength(2);
  });

  it('stops it and proves it is down', async () => {
    const ev = await services.serviceAction('app', 'imports-worker', 'stop');
    expect(ev.checks).toEqual([{ check: 'stopped', ok: true, detail: expect.stringMatching(/exited 1/) as unknown }]);
    expect(await services.serviceStatus('app', 'imports-worker')).toMatchObject({ running: false });
    const alive = await execa('kill', ['-0', pid()], { reject: false });
    expect(alive.exitCode).not.toBe(0);
  });

  it('reports a start command that fails, with its exit code and output', async () => {
    const err = await failureOf(services.serviceAction('app', 'failing', 'start'));
    expect(err.type).toBe('ServiceCommandFailed');
    expect(err.message).toContain(
      'start of service "failing" (target "app"): sh -c <command.start from the targets file> exited with 3.',
    );
    expect(err.message).toContain('cannot read /etc/gestiq/worker.env');
  });

  it('kills a start command that does not return within commandTimeout, with everything it started', async () => {
    const err = await failureOf(services.serviceAction('app', 'hanging', 'start'));
    expect(err.type).toBe('ServiceCommandTimedOut');
    expect(err.message).toContain(
      'did not return within 1s and was killed. A start command must start the service in the background and return',
    );
    const left = await execa('pgrep', ['-f', '^sleep 300\\.4242$'], { reject: false });
    expect(left.stdout).toBe('');
  });

  it('fails after the health deadline when the expected log line never comes, naming the check', async () => {
    const err = await failureOf(services.serviceAction('app', 'silent', 'restart'));
    expect(err.type).toBe('ServiceUnhealthy');
    expect(err.message).toMatch(
      /^Service "silent" \(target "app"\) is not healthy \d+s after restart: logLine: no line matching \/ready\/ since the restart/,
    );
  });

  it("gives a user's command the base environment and its target's passEnv, never another target's password or the payload key", async () => {
    const worker = {
      ...process.env,
      OTHER_DB_PASSWORD: 'other-target-pw-7f3a',
      RUNBOOK_PAYLOAD_KEY: `k1:${'ab'.repeat(32)}`,
      RUNBOOK_DECISION_KEY: 'cd'.repeat(32),
      APP_DEPLOY_TOKEN: 'deploy-token-91c2',
      LC_ALL: 'C.UTF-8',
    };
    await createServiceActivities(registry, worker).serviceAction('app', 'env-dump', 'start');
    const seen = readFileSync(envDump, 'utf8');
    expect(seen).toContain('APP_DEPLOY_TOKEN=deploy-token-91c2');
    expect(seen).toMatch(/^PATH=/m);
    expect(seen).toMatch(/^LC_ALL=C\.UTF-8$/m);
    for (const leak of [
      'other-target-pw-7f3a',
      'OTHER_DB_PASSWORD',
      'RUNBOOK_PAYLOAD_KEY',
      'RUNBOOK_DECISION_KEY',
      'ab'.repeat(32),
    ])
      expect(seen).not.toContain(leak);
  });

  it('restarts a service that is already down without running its stop (which would fail), and says so; a stop of a down service is done at once', async () => {
    const restarted = await services.serviceAction('app', 'pid-file', 'restart');
    expect(restarted.commands.map((c) => [c.command, c.exitCode])).toEqual([
      ['sh -c <command.start from the targets file>', 0],
    ]);
    expect(restarted.skipped).toEqual([
      expect.stringMatching(
        /^sh -c <command\.stop from the targets file>: the service was already down \(sh -c <command\.status from the targets file> exited 1/,
      ),
    ]);
    expect(restarted.verified).toBe(true);
    const running = Number(readFileSync(pidFile2, 'utf8').trim());
    expect(() => process.kill(running, 0)).not.toThrow();
    // Running now: the next stop runs its command and proves the service down; a second stop has nothing to do.
    const stopped = await services.serviceAction('app', 'pid-file', 'stop');
    expect(stopped.commands.map((c) => c.exitCode)).toEqual([0]);
    expect(stopped.skipped).toBeUndefined();
    expect(stopped.verified).toBe(true);
    // Gone, or a zombie nobody has reaped yet (its parent shell has exited): not running either way.
    const state = existsSync(`/proc/${running}/stat`)
      ? readFileSync(`/proc/${running}/stat`, 'utf8').split(') ')[1]?.[0]
      : 'gone';
    expect(['gone', 'Z']).toContain(state);
    const again = await services.serviceAction('app', 'pid-file', 'stop');
    expect(again.commands).toEqual([]);
    expect(again.skipped).toHaveLength(1);
  });

  it('refuses a service the target does not declare, listing the ones it does', async () => {
    const err = await failureOf(services.serviceAction('app', 'web', 'restart'));
    expect(err.type).toBe('TargetConfigError');
    expect(err.message).toContain('Target "app" has no service "web"');
    expect(err.message).toContain('(declared: imports-worker, failing, hanging, silent, env-dump, pid-file)');
  });
});

describe('service adapter, systemd and compose drivers, as far as this machine allows', () => {
  const dir = tmpDir('svc-drivers-');
  const file = writeTargets({
    app: {
      services: {
        worker: { systemd: 'gestiq-worker-imports', health: { logLine: 'imports worker ready', timeout: '5s' } },
        composed: { compose: { file: path.join(dir, 'docker-compose.yml'), service: 'worker' }, commandTimeout: '20s' },
      },
    },
  });
  writeFileSync(
    path.join(dir, 'docker-compose.yml'),
    'services:\n  worker:\n    image: busybox\n    command: sleep 3600\n',
  );
  const targets = TargetRegistry.load(file);

  /** A stand-in `systemctl`/`journalctl` on PATH that records its argv and acts like a unit that starts. */
  function fakeSystemd(): string {
    const bin = tmpDir('fake-systemd-');
    const log = path.join(bin, 'calls');
    writeFileSync(
      path.join(bin, 'systemctl'),
      `#!/bin/sh\necho "systemctl $*" >> ${log}\n[ "$1" = is-active ] && { [ -f ${bin}/up ] && echo active && exit 0; echo inactive; exit 3; }\n[ "$1" = restart ] && touch ${bin}/up\nexit 0\n`,
    );
    writeFileSync(
      path.join(bin, 'journalctl'),
      `#!/bin/sh\necho "journalctl $*" >> ${log}\n[ -f ${bin}/up ] && echo "app.startup: imports worker ready"\nexit 0\n`,
    );
    for (const f of ['systemctl', 'journalctl']) chmodSync(path.join(bin, f), 0o755);
    return bin;
  }

  it('systemd: restarts the unit with systemctl and waits for is-active and a journal line since the restart', async () => {
    const bin = fakeSystemd();
    const services = createServiceActivities(targets, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    const ev = await services.serviceAction('app', 'worker', 'restart');
    expect(ev).toMatchObject({
      driver: 'systemd',
      verified: true,
      commands: [{ command: 'systemctl restart gestiq-worker-imports', exitCode: 0 }],
    });
    expect(ev.checks).toEqual([
      { check: 'running', ok: true, detail: 'systemctl is-active gestiq-worker-imports exited 0: active' },
      { check: 'logLine', ok: true, detail: 'app.startup: imports worker ready' },
    ]);
    const calls = readFileSync(path.join(bin, 'calls'), 'utf8').trim().split('\n');
    expect(calls[0]).toBe('systemctl restart gestiq-worker-imports');
    expect(calls).toContain('systemctl is-active gestiq-worker-imports');
    expect(calls.find((c) => c.startsWith('journalctl'))).toMatch(
      /^journalctl -u gestiq-worker-imports --since @\d{10} -o cat --no-pager$/,
    );
  });

  it('systemd: on this machine (systemd not PID 1, or no such unit) the real systemctl fails and the error carries its words', async () => {
    const services = createServiceActivities(targets);
    const err = await failureOf(services.serviceAction('app', 'worker', 'restart'));
    expect(err.type).toBe('ServiceCommandFailed');
    expect(err.message).toMatch(
      /^restart of service "worker" \(target "app"\): systemctl restart gestiq-worker-imports exited with \d+\.\nOutput:\n.+/s,
    );
  });

  it('systemd and compose: a host without the tool gets an error saying where the step must run', async () => {
    const services = createServiceActivities(targets, { ...process.env, PATH: tmpDir('empty-path-') });
    const err = await failureOf(services.serviceAction('app', 'worker', 'restart'));
    expect(err.type).toBe('CommandMissing');
    expect(err.message).toBe(
      'systemctl is not installed on this worker\'s host, and service "worker" of target "app" uses the systemd driver. Run this step on a worker on the service\'s host (set the target\'s taskQueue) or declare the driver that host has.',
    );
    const status = await failureOf(services.serviceStatus('app', 'composed'));
    expect(status.type).toBe('CommandMissing');
    expect(status.message).toContain("docker-compose is not installed on this worker's host");
  });

  it("compose: with Debian's docker-compose and no Docker engine, restart fails with the tool's own reason", async () => {
    const services = createServiceActivities(targets);
    const err = await failureOf(services.serviceAction('app', 'composed', 'restart'));
    expect(err.type).toBe('ServiceCommandFailed');
    expect(err.message).toContain(`-f ${path.join(dir, 'docker-compose.yml')} restart worker exited with 1.`);
    expect(err.message).toMatch(/: (docker compose|docker-compose) -f /);
    expect(err.message).toMatch(/Docker daemon|docker\.sock|Connection refused|FileNotFoundError/i);
  });
});
