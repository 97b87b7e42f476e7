import { symlinkSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { repoRoot, tmpDir } from './support/harness.js';

// What `runbook new` writes must build as it is: in a copy of the project, the scaffolded runbook
// type-checks, passes ESLint and Prettier, and its own test passes against a real dev server and worker.
describe('a scaffolded runbook', () => {
  it('compiles, lints and passes its own test as generated', { timeout: 600_000 }, async () => {
    const copy = tmpDir('scaffold-');
    // The project as committed (and this worktree's changes), without kept histories and fixtures' data.
    const { stdout } = await execa('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
      cwd: repoRoot,
    });
    const files = stdout
      .split('\n')
      .filter((f) => f && !/^(node_modules|\.data\/|test\/histories|docs|bench\/RESULTS)/.test(f));
    await execa('tar', ['-cf', '-', '--ignore-failed-read', ...files], { cwd: repoRoot }).pipe('tar', [
      '-xf',
      '-',
      '-C',
      copy,
    ]);
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'));
    const run = (cmd: string, args: string[]) =>
      execa(cmd, args, { cwd: copy, reject: false, all: true, env: { NO_COLOR: '1', FORCE_COLOR: '0' } });

    const created = await run('node', ['bin/runbook.js', 'new', 'probe-check', '--dir', copy]);
    expect(created.exitCode, created.all).toBe(0);
    expect(created.stdout).toContain('created src/runbooks/probe-check/workflow.ts');
    const generated = [
      'src/runbooks/probe-check',
      'test/probe-check.test.ts',
      'src/runbooks/catalogue.ts',
      'src/workflows/index.ts',
    ];

    const tsc = await run('npx', ['tsc', '--noEmit', '-p', '.']);
    expect(tsc.exitCode, tsc.all).toBe(0);
    const eslint = await run('npx', ['eslint', ...generated]);
    expect(eslint.exitCode, eslint.all).toBe(0);
    const prettier = await run('npx', ['prettier', '--check', ...generated]);
    expect(prettier.exitCode, prettier.all).toBe(0);
    // Its test and the catalogue's check, in the copy: its own dev server, its workflow bundle built with the new runbook.
    const tests = await run('npx', ['vitest', 'run', 'test/probe-check.test.ts', 'test/unit/catalogue.test.ts']);
    expect(tests.exitCode, tests.all).toBe(0);
    expect(tests.stdout).toMatch(/Test Files +2 passed \(2\)/); // the scaffolded test and the catalogue test, none failed
  });
});
