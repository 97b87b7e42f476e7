import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { canListen, portOwner } from '../src/util/ports.js';
import { repoRoot, tmpDir } from './support/harness.js';
import { freePort } from './support/ports.js';
import { until } from './support/wait.js';

/**
 * `npm start` in a real terminal (a pseudo-terminal made by `script`): Ctrl-C there reaches every
 * process of the foreground group at once (npm and us); the dev server, in its own group, must
 * still go down with us. And a port already taken is an error, never a silent attach.
 */
describe('npm start in a terminal', () => {
  const cleanup: Array<() => void> = [];
  afterAll(() =>
    cleanup.forEach((f) => {
      try {
        f();
      } catch {
        /* already gone */
      }
    }),
  );

  const startInTerminal = (env: Record<string, string>) => {
    // `script` gives the command a pseudo-terminal; \x03 written to it is the terminal's Ctrl-C. The
    // command is the README's: npm start (node --import tsx, no tsx CLI in between: its signal relay
    // SIGKILLs a child that is slow to acknowledge a second Ctrl-C, which cut our shutdown short).
    const proc = execa('script', ['-qfec', 'npm start --silent', '/dev/null'], {
      cwd: repoRoot,
      reject: false,
      stdin: 'pipe',
      env: { ...env, RUNBOOK_TARGETS: 'targets.local.yaml', LOG_LEVEL: 'warn' },
      extendEnv: true,
    });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    cleanup.push(() => proc.kill('SIGKILL'));
    return { proc, output: () => out };
  };

  it('stops the dev server too on Ctrl-C, pressed twice', async () => {
    const [grpc, ui, api] = [await freePort(), await freePort(), await freePort()];
    const { proc, output } = startInTerminal({
      TEMPORAL_ADDRESS: '',
      TEMPORAL_PORT: String(grpc),
      TEMPORAL_UI_PORT: String(ui),
      RUNBOOK_API_PORT: String(api),
      RUNBOOK_DATA_DIR: tmpDir(),
    });
    await until(
      () => output().includes('durable-runbooks is up:') || proc.exitCode !== null,
      'npm start to be up',
      120_000,
      250,
    );
    const server = portOwner(grpc);
    expect(server?.command).toContain('server start-dev');
    cleanup.push(() => server && process.kill(server.pid, 'SIGKILL'));
    proc.stdin.write('\x03');
    await new Promise((r) => setTimeout(r, 200));
    proc.stdin.write('\x03');
    await proc;
    // Nothing of ours is left: the dev server's process and its ports are gone.
    expect(portOwner(grpc)).toBeUndefined();
    expect([await canListen(grpc), await canListen(ui), await canListen(api)]).toEqual([true, true, true]);
    expect(output()).toContain('Stopping the worker, then the API and the dev server');
    expect(output()).toContain('Stopped.');
  });

  it("refuses to start when the dev server's port is taken by another Temporal, instead of silently using that one", async () => {
    // The run's shared dev server holds this port: the readiness check alone would have found it answering.
    const taken = Number(inject('temporalAddress').split(':')[1]);
    const holder = portOwner(taken)!;
    const r = await execa('node', ['--import', 'tsx', path.join(repoRoot, 'src/start.ts')], {
      cwd: repoRoot,
      reject: false,
      env: {
        TEMPORAL_ADDRESS: '',
        TEMPORAL_PORT: String(taken),
        TEMPORAL_UI_PORT: String(await freePort()),
        RUNBOOK_API_PORT: String(await freePort()),
        RUNBOOK_DATA_DIR: tmpDir(),
        RUNBOOK_TARGETS: 'targets.local.yaml',
      },
    });
    expect(r.stdout).not.toContain('durable-runbooks is up:');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`Port ${taken} is already in use by pid ${holder.pid} (`);
    expect(r.stderr).toContain('server start-dev');
    expect(r.stderr).toContain(
      `Stop it (kill ${holder.pid}) if it is a dev server left running, or set TEMPORAL_PORT to a free port, or TEMPORAL_ADDRESS to use a server that is already running.`,
    );
  });
});
