import path from 'node:path';
import { execa } from 'execa';
import { inject } from 'vitest';
import { repoRoot } from './harness.js';
import { tlsEnv } from './temporal.js';

/** Runs the real `runbook` command (bin/runbook.js) against the test dev server. */
export async function runbookCli(args: string[], env: Record<string, string | undefined> = {}) {
  const r = await execa('node', [path.join(repoRoot, 'bin/runbook.js'), ...args], {
    cwd: repoRoot,
    reject: false,
    env: { TEMPORAL_ADDRESS: inject('temporalAddress'), ...tlsEnv(), ...env },
  });
  return {
    code: r.exitCode,
    stdout: r.stdout,
    stderr: r.stderr,
    json: () => JSON.parse(r.stdout) as Record<string, unknown>,
  };
}
