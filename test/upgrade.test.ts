import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHistoryFile, replay } from '../src/audit/replay.js';
import { finished, gateOpened, repoRoot, startRig, writeTargets } from './support/harness.js';

// Changing a runbook while runs are in flight: the change goes behind patched(); the kept
// histories of the old code replay against the new, and a run started on the old worker, parked
// at its gate, finishes on the new worker taking the new path after the gate.
describe('upgrading a runbook with runs in flight', () => {
  const v2 = path.join(repoRoot, 'test/fixtures/patched-workflows/index.ts');

  it('old histories replay against the patched code, and an in-flight run finishes on the new worker', async () => {
    const dir = path.join(repoRoot, 'test/histories');
    for (const file of readdirSync(dir).filter((f) => f.startsWith('approval-drill-'))) {
      const report = await replay(loadHistoryFile(path.join(dir, file)), file, { workflowsPath: v2 });
      expect(report.problem, file).toBeUndefined();
      expect(report.ok, file).toBe(true);
    }

    const targets = writeTargets({ 'upgrade-drill': { policy: { unsignedDecisions: 'allow' } } });
    const old = await startRig(targets);
    const { id } = await old.client.start('approval-drill', { target: 'upgrade-drill', initiator: 'alice' });
    await gateOpened(old.client, id, 'proceed');
    await old.stop(); // the old worker is gone; the run waits in Temporal

    const next = await startRig(targets, { workflowsPath: v2, taskQueue: old.taskQueue });
    try {
      await next.client.decide(id, 'proceed', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
      const run = await finished(next.client, id);
      expect(run.status).toBe('completed');
      const r = run.result as { summary: string[] };
      expect(r.summary).toEqual(['Gate "proceed" approved by bob via update.', 'v2: recorded again for bob.']);
      expect(run.journal?.filter((e) => e.step === 'record-decision' && e.outcome === 'ok')).toHaveLength(2);
    } finally {
      await next.stop();
    }
  });
});
