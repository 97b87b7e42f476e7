import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { loadHistoryFile, replay } from '../src/audit/replay.js';
import { catalogue } from '../src/runbooks/catalogue.js';
import { runbookCli } from './support/cli.js';
import { repoRoot } from './support/harness.js';

// Histories recorded from real runs (scripts/record-histories.ts) must replay against today's
// code: a change that would break runbooks in flight fails the build here.
const dir = path.join(repoRoot, 'test/histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('audit replay', () => {
  it('has recorded histories of every runbook', () => {
    const recorded = new Set(
      files.map((f) =>
        f.replace(
          /-(completed|signed-approval|signal-approval|rejected|locked|upgraded|leftovers-dropped|applied|dry-run|remedied|restarted|copied|redeployed|retried|redriven|traced)\.json$/,
          '',
        ),
      ),
    );
    expect(recorded).toEqual(new Set(catalogue.map((r) => r.name)));
  });

  it.each(files)('replays %s against the current workflow code', async (file) => {
    const report = await replay(loadHistoryFile(path.join(dir, file)), file, {
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.events).toBeGreaterThan(10);
  });

  it('fails, naming the problem, when the workflow code changed in a way that breaks running runs', async () => {
    const report = await replay(loadHistoryFile(path.join(dir, 'approval-drill-signed-approval.json')), 'x', {
      workflowsPath: path.join(repoRoot, 'test/fixtures/changed-workflows/index.ts'),
    });
    expect(report.ok).toBe(false);
    expect(report.problem).toMatch(/nondetermin/i);
  });

  it('runbook replay reports each history, and refuses a file that is not one, saying how to export one', async () => {
    const ok = await runbookCli(['replay', path.join(dir, 'approval-drill-rejected.json')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK {4}approval-drill-rec-open-\S+ \(approvalDrill, \d+ events\)$/);
    const bad = await runbookCli(['replay', path.join(repoRoot, 'package.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'is not a workflow history in JSON (export one with: temporal workflow show --workflow-id <id> --output json',
    );
  });
});
