import { patched } from '@temporalio/workflow';
import type { ManagedDatabase } from '../../activities/index.js';
import { parseDuration } from '../../util/duration.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookInput, RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import { janitorSummary, removePrompt } from './texts.js';

/**
 * Housekeeping after the database runbooks, so customer data does not linger. What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export interface JanitorFindings {
  removed: Array<{ name: string; kind: string; reason: string }>;
  kept: Array<{ name: string; kind: string; reason: string }>;
}

/** Why a database, dump, work copy or artifact of ours goes or stays; pure, so the rule is unit-tested. */
export function janitorVerdict(
  d: { kind: ManagedDatabase['kind'] | 'work' | 'artifact'; createdAt: string },
  runOpen: boolean,
  nowMs: number,
  retentionMs: number,
): { remove: boolean; reason: string } {
  if (runOpen) return { remove: false, reason: 'its run is still open' };
  const ageMs = nowMs - Date.parse(d.createdAt);
  if (d.kind === 'clone' || d.kind === 'scratch' || d.kind === 'fresh')
    return { remove: true, reason: `a ${d.kind} of a run that has ended` };
  if (d.kind === 'work') return { remove: true, reason: 'a work copy of a run that has ended' };
  if (ageMs > retentionMs)
    return { remove: true, reason: `older than the retention (${Math.round(ageMs / 3_600_000)} h)` };
  return { remove: false, reason: `within the retention (${Math.round((retentionMs - ageMs) / 3_600_000)} h left)` };
}

export async function janitor(input: RunbookInput): Promise<RunbookResult<JanitorFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    const retentionMs = parseDuration(target.retention);
    // Work copies and artifacts live on the target's host; histories from before they were looked for replay without.
    const host = hostActivitiesFor(input, target);
    const withRunFiles = patched('janitor-run-files');
    const found = await rb.step('list', async () => ({
      databases: target.postgres ? await act.pgListManaged(input.target) : [],
      dumps: await act.listBackups(input.target),
      files: withRunFiles ? await host.listRunFiles(input.target) : [],
    }));
    const openRuns = new Map<string, boolean>();
    const isOpen = async (run: string) => {
      if (!openRuns.has(run)) openRuns.set(run, (await act.runIsOpen(run)).open);
      return openRuns.get(run)!;
    };
    const plan = await rb.step(
      'plan',
      async () => {
        const now = Date.now();
        const databases: Array<{ name: string; kind: string; remove: boolean; reason: string }> = [];
        for (const d of found.databases)
          databases.push({ name: d.name, kind: d.kind, ...janitorVerdict(d, await isOpen(d.run), now, retentionMs) });
        const snapshots = new Set(found.databases.filter((d) => d.kind === 'snapshot').map((d) => d.name));
        const dumps = found.dumps
          .map((f) => ({
            name: f.name,
            kind: 'dump',
            ...janitorVerdict({ kind: 'snapshot', createdAt: f.createdAt }, false, now, retentionMs),
          }))
          // A dump of a snapshot still kept stays with it.
          .map((f) =>
            f.remove && snapshots.has(f.name) && !databases.find((d) => d.name === f.name)?.remove
              ? { ...f, remove: false, reason: 'its snapshot is kept' }
              : f,
          );
        const files: Array<{ name: string; kind: string; remove: boolean; reason: string }> = [];
        for (const f of found.files)
          files.push({ name: f.name, kind: f.kind, ...janitorVerdict(f, await isOpen(f.run), now, retentionMs) });
        return [...databases, ...dumps, ...files];
      },
      { inputs: { retention: target.retention } },
    );
    const removed: Array<{ name: string; kind: string; reason: string }> = [];
    const toRemove = plan.filter((p) => p.remove);
    if (!input.dryRun && toRemove.length > 0) {
      await rb.gate('remove', {
        prompt: removePrompt(input.target, toRemove),
        evidence: {
          remove: toRemove.map(({ name, kind, reason }) => ({ name, kind, reason })),
          keep: plan.filter((p) => !p.remove).length,
          retention: target.retention,
        },
      });
      removed.push(
        ...(await rb.step('drop', async () => {
          const done: Array<{ name: string; kind: string; reason: string }> = [];
          for (const p of toRemove) {
            const r =
              p.kind === 'dump'
                ? await act.removeBackup(input.target, p.name)
                : p.kind === 'work' || p.kind === 'artifact'
                  ? await host.removeRunFiles(input.target, p.kind, p.name)
                  : await act.pgDropManaged(input.target, p.name);
            if ('removed' in r ? r.removed : r.dropped) done.push({ name: p.name, kind: p.kind, reason: p.reason });
          }
          return done;
        })),
      );
    }
    const kept = plan.filter((p) => !p.remove).map(({ name, kind, reason }) => ({ name, kind, reason }));
    return {
      runbook: rb.name,
      target: input.target,
      healthy: true,
      summary: janitorSummary({ dryRun: input.dryRun ?? false, toRemove, removed, kept }),
      findings: { removed: input.dryRun ? [] : removed, kept },
    };
  });
}
