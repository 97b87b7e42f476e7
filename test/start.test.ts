import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { repoRoot, tmpDir, uniqueName } from './support/harness.js';
import { freePort } from './support/ports.js';
import { registerSecrets } from './support/secrets.js';
import { runbookCli } from './support/cli.js';
import { until } from './support/wait.js';

// `npm start` itself (src/start.ts), pointed at the test run's server with TEMPORAL_ADDRESS.
describe('npm start', () => {
  it('starts the worker and the API on an existing server, runs a runbook, and stops cleanly on Ctrl-C', async () => {
    const dataDir = tmpDir();
    const port = await freePort();
    const proc = execa('node', ['--import', 'tsx', path.join(repoRoot, 'src/start.ts')], {
      cwd: repoRoot,
      reject: false,
      env: {
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        RUNBOOK_TASK_QUEUE: uniqueName('start'),
        RUNBOOK_DATA_DIR: dataDir,
        RUNBOOK_API_PORT: String(port),
        RUNBOOK_TARGETS: 'targets.local.yaml',
      },
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('durable-runbooks is up:') || proc.exitCode !== null, 'npm start to be up', 60_000);
    expect(out).toContain(
      `Using the Temporal server at ${inject('temporalAddress')} (TEMPORAL_ADDRESS); no dev server started.`,
    );
    expect(out).toContain(`API           http://127.0.0.1:${port}`);
    expect(out).toContain('Temporal UI   http://127.0.0.1:8233');

    const tokens = JSON.parse(readFileSync(path.join(dataDir, 'dev-tokens.json'), 'utf8')) as Record<string, string>;
    expect(Object.keys(tokens)).toEqual(['alice', 'bob', 'carol', 'alertmanager']);
    const api = (p: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${port}${p}`, {
        ...init,
        headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' },
      });
    const started = await api('/runbooks/db-access/runs', {
      method: 'POST',
      body: JSON.stringify({ target: 'local-db' }),
    });
    expect(started.status).toBe(201);
    const { id } = (await started.json()) as { id: string };
    let run: { status?: string; result?: { summary: string[] } } = {};
    await until(async () => {
      run = (await (await api(`/runs/${id}`)).json()) as typeof run;
      return run.status === 'completed';
    }, 'the run to complete');
    expect(run.result!.summary[0]).toContain('Connected to 127.0.0.1:5432/test as postgres');

    // `runbook approve` through the API shows the plan it decides on, and sends that plan's digest.
    const drill = (await (
      await api('/runbooks/approval-drill/runs', { method: 'POST', body: JSON.stringify({ target: 'local-db' }) })
    ).json()) as { id: string };
    let digest = '';
    await until(async () => {
      digest =
        ((await (await api(`/runs/${drill.id}`)).json()) as { pendingGates: Array<{ planDigest: string }> })
          .pendingGates[0]?.planDigest ?? '';
      return digest !== '';
    }, 'the drill gate to open');
    const approved = await runbookCli(['approve', drill.id, 'proceed', '--comment', 'seen'], {
      RUNBOOK_API: `http://127.0.0.1:${port}`,
      RUNBOOK_TOKEN: tokens.bob,
    });
    expect(approved.code).toBe(0);
    expect(approved.stderr).toContain(
      `Plan of gate "proceed" (digest ${digest}):\n  Drill: approve to proceed on local-db. Nothing will be changed.`,
    );
    expect(approved.stdout).toContain(`Gate "proceed" of ${drill.id}: approved`);

    proc.kill('SIGINT');
    const ended = await proc;
    expect(ended.exitCode).toBe(0);
    expect(out).toContain('Worker stopped; closing the API and the dev server…');
    expect(out).toContain('Stopped.');
  });

  it("with payload encryption on, starts its own dev server whose UI decodes through the API's codec", async () => {
    const key = randomBytes(32).toString('hex');
    registerSecrets('payload key', key);
    const [grpc, ui, apiPort] = [await freePort(), await freePort(), await freePort()];
    const dataDir = path.join(tmpDir(), 'data'); // made by npm start
    const proc = execa('node', ['--import', 'tsx', path.join(repoRoot, 'src/start.ts')], {
      cwd: repoRoot,
      reject: false,
      env: {
        TEMPORAL_CLI_PATH: inject('temporalCli'),
        TEMPORAL_PORT: String(grpc),
        TEMPORAL_UI_PORT: String(ui),
        RUNBOOK_API_PORT: String(apiPort),
        RUNBOOK_DATA_DIR: dataDir,
        RUNBOOK_TASK_QUEUE: uniqueName('start'),
        RUNBOOK_TARGETS: 'targets.local.yaml',
        RUNBOOK_PAYLOAD_KEY: `dev1:${key}`,
      },
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await until(
        () => out.includes('durable-runbooks is up:') || proc.exitCode !== null,
        'npm start to be up',
        120_000,
      );
      expect(out).toContain(`Temporal UI   http://127.0.0.1:${ui}`);
      expect(out).toContain(
        `Payloads      encrypted (RUNBOOK_PAYLOAD_KEY); the UI reads them through http://127.0.0.1:${apiPort}/codec once you sign in to the console`,
      );
      // What the UI's pages read to find the codec.
      const settings = (await (await fetch(`http://127.0.0.1:${ui}/api/v1/settings`)).json()) as {
        Codec?: { Endpoint?: string };
      };
      expect(settings.Codec?.Endpoint).toBe(`http://127.0.0.1:${apiPort}/codec`);
      expect(out).not.toContain(key);
      // Every run's history is in temporal.db: the data directory and the server's files are the user's only.
      const mode = (f: string) => statSync(path.join(dataDir, f)).mode & 0o777;
      expect({ dir: mode('.'), db: mode('temporal.db'), log: mode('temporal.log') }).toEqual({
        dir: 0o700,
        db: 0o600,
        log: 0o600,
      });
    } finally {
      proc.kill('SIGINT');
    }
    expect((await proc).exitCode, out).toBe(0);
  });

  it('stops before starting anything when the configuration is invalid, naming the variable', async () => {
    const r = await execa('node', ['--import', 'tsx', path.join(repoRoot, 'src/start.ts')], {
      cwd: repoRoot,
      reject: false,
      env: { RUNBOOK_API_PORT: 'http' },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('RUNBOOK_API_PORT="http": RUNBOOK_API_PORT must be a port number (1-65535)');
  });
});
