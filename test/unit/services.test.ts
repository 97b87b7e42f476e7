import { describe, expect, it } from 'vitest';
import { actionCommands, logCommand, runBounded, statusCommand } from '../../src/activities/services.js';

describe('service drivers: the commands each action runs', () => {
  const compose = { compose: { file: '/srv/gestiq/docker-compose.yml', service: 'worker-imports' } };
  const command = { command: { start: 'SECRET=x ./start-worker', stop: './stop-worker', status: 'pgrep -f celery' } };

  it('compose: start brings the one service up without its dependencies; stop and restart act on it alone', () => {
    expect(actionCommands(compose, 'start').map((c) => c.argv)).toEqual([
      ['docker', 'compose', '-f', '/srv/gestiq/docker-compose.yml', 'up', '-d', '--no-deps', 'worker-imports'],
    ]);
    expect(actionCommands(compose, 'restart', ['docker-compose']).map((c) => c.shown)).toEqual([
      'docker-compose -f /srv/gestiq/docker-compose.yml restart worker-imports',
    ]);
    expect(statusCommand(compose)).toMatchObject({
      argv: [
        'docker',
        'compose',
        '-f',
        '/srv/gestiq/docker-compose.yml',
        'ps',
        '--services',
        '--filter',
        'status=running',
      ],
      listed: 'worker-imports',
    });
  });

  it("compose logs: v2 filters by the restart time, Debian's v1 (no --since) reads the newest 200 lines", () => {
    expect(logCommand(compose, 1_790_000_000)!.argv).toContain('--since');
    expect(logCommand(compose, 1_790_000_000, ['docker-compose'])!.argv).toEqual([
      'docker-compose',
      '-f',
      '/srv/gestiq/docker-compose.yml',
      'logs',
      '--no-color',
      '--tail',
      '200',
      'worker-imports',
    ]);
  });

  it('command: restart is stop then start, and the evidence never shows the command text (it may carry secrets)', () => {
    const planned = actionCommands(command, 'restart');
    expect(planned.map((c) => c.argv)).toEqual([
      ['sh', '-c', './stop-worker'],
      ['sh', '-c', 'SECRET=x ./start-worker'],
    ]);
    expect(planned.map((c) => c.shown).join(' ')).not.toContain('SECRET');
    expect(statusCommand({ command: { start: 'a', stop: 'b' } })).toBeUndefined();
    expect(logCommand(command, 0)).toBeUndefined();
  });
});

describe('runBounded', () => {
  it('returns when the command exits even if a daemon it started keeps its output open', async () => {
    const r = await runBounded(['sh', '-c', 'echo started; (sleep 5 &) ; exit 0'], 4_000);
    expect(r).toMatchObject({ exitCode: 0, timedOut: false, output: 'started\n' });
  });

  it('kills the whole process group on timeout and says so', async () => {
    const r = await runBounded(['sh', '-c', 'sleep 30 & sleep 30'], 300);
    expect(r).toMatchObject({ exitCode: null, timedOut: true });
  });

  it('tells a missing program apart from a failing one', async () => {
    expect(await runBounded(['no-such-program-xyz'], 1_000)).toMatchObject({ missing: true, exitCode: null });
    expect(await runBounded(['sh', '-c', 'exit 4'], 1_000)).toMatchObject({ missing: false, exitCode: 4 });
  });
});
