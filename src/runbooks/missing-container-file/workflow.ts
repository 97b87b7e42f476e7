import { ApplicationFailure } from '@temporalio/workflow';
import type { ContainerState, FileState, HttpProbe, ServiceEvidence } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import type { MissingFileInput } from './definition.js';

/**
 * Seed 000 §2 "Archivos faltantes en Docker": detect that a file the app needs is missing (or
 * differs from the good copy) where the app runs · copy it in ⛔ (`docker cp`, or a copy into the
 * app's directory) · restart the app service · verify the file and the app's health · record the
 * permanent fix (Dockerfile COPY, or a volume that hides it) in the result.
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
const describe = (f: FileState) =>
  `${f.path} ${!f.present ? 'is missing' : 'differs from the good copy'} at ${f.where}${f.hiddenBy ? ` (under the mount ${f.hiddenBy})` : ''}`;

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
      runbook: 'missing-container-file',
      target: input.target,
      healthy,
      summary,
      findings: f,
    });
    const where = found.container
      ? `container ${found.container.name} (${found.container.status}, image ${found.container.image})`
      : "the app's directory";
    const readyLine = `${ready.path}: ${ready.error ? `${ready.error.kind} (${ready.error.detail})` : ready.status}${ready.body && !ok(ready) ? `: ${ready.body.split('\n')[0]}` : ''}.`;

    if (bad.length === 0)
      return end(
        ok(ready),
        [`Every declared file is present and matches its good copy in ${where}.`, readyLine],
        findings('healthy'),
      );
    const lines = [...bad.map((f) => `${describe(f)}.`), readyLine];
    const noSource = bad.filter((f) => f.sourceMissing);
    if (noSource.length)
      return end(
        false,
        [
          ...lines,
          `Nothing was changed: the good copy is missing on this host for ${noSource.map((f) => f.path).join(', ')} (app.files[].source).`,
        ],
        findings('cannot-fix'),
      );
    if (found.container && !found.container.running)
      return end(
        false,
        [
          ...lines,
          `Nothing was changed: container ${found.container.name} is ${found.container.status}; docker cp into a stopped container is lost with it. Start it (connection-refused), then run this again.`,
        ],
        findings('cannot-fix'),
      );
    if (!app.service)
      return end(
        false,
        [...lines, 'Nothing was changed: the target declares no app.service to restart after the copy.'],
        findings('cannot-fix'),
      );
    const plan = `copy ${bad.map((f) => f.path).join(', ')} into ${where}, then restart ${app.service}`;
    if (input.dryRun)
      return end(
        false,
        ['Dry run: nothing was changed.', ...lines, `Would: ${plan}.`, `Permanent fix: ${found.permanentFix}`],
        findings('dry-run', { permanentFix: found.permanentFix }),
      );

    await rb.lockTarget();
    await rb.gate('copy-in', {
      prompt: `${bad.length} file(s) the app needs on ${input.target} are wrong: ${bad.map(describe).join('; ')}. Plan: ${plan}; verify the files and ${ready.path}. This is a stopgap: ${found.permanentFix}`,
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
    return end(
      fixed,
      [
        fixed
          ? `Fixed: ${copied.copied.map((c) => c.path).join(', ')} copied in (sha256 checked), ${app.service} restarted, ${after.ready.path} ${after.ready.status}.`
          : `Not fixed: after the copy and restart, ${
              after.files
                .filter((f) => !f.present || f.differs)
                .map(describe)
                .join('; ') || `${after.ready.path} answers ${after.ready.error?.kind ?? after.ready.status}`
            }.`,
        ...lines,
        `Permanent fix (do it, or the next deploy loses the copy): ${found.permanentFix}`,
      ],
      findings(fixed ? 'fixed' : 'not-fixed', {
        permanentFix: found.permanentFix,
        copied: copied.copied,
        restart,
        after,
      }),
    );
  });
}
