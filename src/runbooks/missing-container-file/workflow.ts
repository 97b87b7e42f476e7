import { ApplicationFailure } from '@temporalio/workflow';
import type { ContainerState, FileState, HttpProbe, ServiceEvidence } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { MissingFileInput } from './definition.js';
import {
  badLines,
  copiedSummary,
  copyInPrompt,
  copyPlan,
  dryRunSummary,
  healthySummary,
  noServiceSummary,
  noSourceSummary,
  readyLine,
  stoppedContainerSummary,
  whereLine,
} from './texts.js';

/**
 * Seed 000 §2 "Archivos faltantes en Docker". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export interface MissingFileFindings {
  outcome: 'healthy' | 'fixed' | 'not-fixed' | 'cannot-fix' | 'dry-run';
  container?: ContainerState;
  files: FileState[];
  ready: HttpProbe;
  permanentFix?: string;
  copied?: Array<{ path: string; where: string; sha256: string }>;
  restart?: ServiceEvidence;
  after?: { files: FileState[]; ready: HttpProbe };
}

const ok = (r: HttpProbe) => r.status !== null && r.status >= 200 && r.status < 300;

export async function missingContainerFile(input: MissingFileInput): Promise<RunbookResult<MissingFileFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    const app = target.app;
    if (!app?.files.length)
      throw ApplicationFailure.nonRetryable(
        `Target "${input.target}" declares no app.files: list the files the app needs with their good copy (source) in the targets file.`,
        'TargetConfigError',
      );
    const unknown = (input.files ?? []).filter((f) => !app.files.includes(f));
    if (unknown.length)
      throw ApplicationFailure.nonRetryable(
        `Not among app.files of target "${input.target}": ${unknown.join(', ')} (declared: ${app.files.join(', ')}).`,
        'RunbookInputError',
      );
    const host = hostActivitiesFor(input, target);
    const found = await rb.step('detect-files', () => host.appFilesCheck(input.target, input.files), {
      inputs: { files: input.files ?? app.files },
    });
    const ready = await rb.step('app-health', () => act.appGet(input.target));
    const bad = found.files.filter((f) => !f.present || f.differs);
    const findings = (
      outcome: MissingFileFindings['outcome'],
      more: Partial<MissingFileFindings> = {},
    ): MissingFileFindings => ({ outcome, container: found.container, files: found.files, ready, ...more });
    const end = (healthy: boolean, summary: string[], f: MissingFileFindings) => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings: f,
    });
    const where = whereLine(found.container);
    const readyText = readyLine(ready);
    const { permanentFix } = found;
    if (bad.length === 0) return end(ok(ready), healthySummary(where, readyText), findings('healthy'));
    const lines = badLines(bad, readyText);
    const noSource = bad.filter((f) => f.sourceMissing);
    if (noSource.length) return end(false, noSourceSummary(lines, noSource), findings('cannot-fix'));
    if (found.container && !found.container.running)
      return end(false, stoppedContainerSummary(lines, found.container), findings('cannot-fix'));
    if (!app.service) return end(false, noServiceSummary(lines), findings('cannot-fix'));
    const plan = copyPlan(bad, where, app.service);
    if (input.dryRun)
      return end(false, dryRunSummary(lines, plan, permanentFix), findings('dry-run', { permanentFix }));

    await rb.lockTarget();
    await rb.gate('copy-in', {
      prompt: copyInPrompt({ target: input.target, bad, plan, readyPath: ready.path, permanentFix }),
      evidence: { files: bad, container: found.container ?? null, ready },
    });
    const copied = await rb.step(
      'copy-files',
      () =>
        host.appFilesCopy(
          input.target,
          bad.map((f) => f.path),
        ),
      { inputs: { files: bad.map((f) => f.path) } },
    );
    const restart = await rb.step('restart-app', () => host.serviceAction(input.target, app.service!, 'restart'), {
      inputs: { service: app.service },
    });
    const after = await rb.step('verify-files', async () => ({
      files: (
        await host.appFilesCheck(
          input.target,
          bad.map((f) => f.path),
        )
      ).files,
      ready: await act.appGet(input.target),
    }));
    const fixed = after.files.every((f) => f.present && !f.differs) && ok(after.ready);
    const summary = copiedSummary({ fixed, copied: copied.copied, service: app.service, after, permanentFix }, lines);
    const more = { permanentFix, copied: copied.copied, restart, after };
    return end(fixed, summary, findings(fixed ? 'fixed' : 'not-fixed', more));
  });
}
