import { ApplicationFailure } from '@temporalio/workflow';
import type { HttpProbe, PortCheck, ServiceEvidence, ServiceStatus, TcpProbe } from '../../activities/index.js';
import { hostActivitiesFor } from '../../engine/activity-options.js';
import { runbook } from '../../engine/runbook.js';
import type { RunbookInput, RunbookResult } from '../../contract/types.js';
import { procedure } from './steps.js';
import {
  cannotFix,
  dryRunSummary,
  evidenceLines,
  forceRecreatePrompt,
  recreateAction,
  recreatedSummary,
  stillUnpublishedSummary,
} from './texts.js';

/**
 * Seed 000 §3 "Conexión rechazada". What it does is its definition.ts;
 * its steps and gates, in order, are its steps.ts; its texts are texts.ts.
 */

export type ComposeEvidence = PortCheck & { file: string; malformed?: string };

export interface ConnectionRefusedFindings {
  outcome: 'healthy' | 'fixed' | 'not-fixed' | 'cannot-fix' | 'dry-run';
  probe: TcpProbe;
  ready?: HttpProbe;
  service?: ServiceStatus;
  ports?: ComposeEvidence;
  causes: string[];
  recreate?: ServiceEvidence;
  portsAtApproval?: ComposeEvidence;
  after?: { probe: TcpProbe; ready: HttpProbe };
}

const isReady = (r: HttpProbe | undefined) => r !== undefined && r.status !== null && r.status >= 200 && r.status < 300;

/** Why the port does not answer, from the evidence. Pure. */
export function diagnoseConnection(
  probe: TcpProbe,
  ready: HttpProbe | undefined,
  service: ServiceStatus | undefined,
  ports: ComposeEvidence | undefined,
): string[] {
  const causes: string[] = [];
  if (probe.outcome === 'dns')
    causes.push(
      `The host name does not resolve (${probe.detail}): fix app.url or DNS; restarting the app cannot help.`,
    );
  if (probe.outcome === 'timeout' || probe.outcome === 'unreachable')
    causes.push(
      `${probe.host}:${probe.port} does not answer at all (${probe.outcome}): a firewall or the network drops the packets, or the host is down.`,
    );
  if (service?.running === false)
    causes.push(`The app's service "${service.service}" is not running (${service.detail}).`);
  if (ports?.malformed) causes.push(`The compose file cannot be used: ${ports.malformed}.`);
  else if (ports && !ports.ok)
    causes.push(`The port is not published as users connect: ${ports.problem}. Fix in ${ports.file}:\n${ports.fix}`);
  if (probe.outcome === 'refused' && service?.running !== false && !(ports && !ports.ok))
    causes.push(
      `Nothing listens on ${probe.host}:${probe.port}${service?.running ? ' although the service runs: it may listen on another port or address, or be stuck starting' : ''}.`,
    );
  if (probe.outcome === 'open' && !isReady(ready))
    causes.push(
      `The port accepts connections but ${ready?.path ?? 'the app'} answers ${ready?.error ? `${ready.error.kind} (${ready.error.detail})` : ready?.status}: the app is up but not ready.`,
    );
  return causes;
}

export async function connectionRefused(input: RunbookInput): Promise<RunbookResult<ConnectionRefusedFindings>> {
  const rb = runbook(procedure, input);
  const act = rb.act;
  return rb.run(async () => {
    const target = await rb.resolveTarget();
    const app = target.app;
    if (!app)
      throw ApplicationFailure.nonRetryable(
        `Target "${input.target}" has no app section: add app.url and app.service to the targets file.`,
        'TargetConfigError',
      );
    const host = hostActivitiesFor(input, target);
    const probe = await rb.step('tcp-probe', () => act.appTcpProbe(input.target), { inputs: { url: app.url } });
    const ready = probe.outcome === 'open' ? await rb.step('http-ready', () => act.appGet(input.target)) : undefined;
    const service = app.service
      ? await rb.step('service-state', () => host.serviceStatus(input.target, app.service!), {
          inputs: { service: app.service },
        })
      : undefined;
    const ports = app.compose ? await rb.step('port-mapping', () => host.appComposePorts(input.target)) : undefined;
    const causes = diagnoseConnection(probe, ready, service, ports);
    const findings = (
      outcome: ConnectionRefusedFindings['outcome'],
      more: Partial<ConnectionRefusedFindings> = {},
    ): ConnectionRefusedFindings => ({ outcome, probe, ready, service, ports, causes, ...more });
    const end = (healthy: boolean, summary: string[], f: ConnectionRefusedFindings) => ({
      runbook: rb.name,
      target: input.target,
      healthy,
      summary,
      findings: f,
    });
    const evidence = evidenceLines({ probe, ready, service, ports });
    if (probe.outcome === 'open' && isReady(ready))
      return end(true, [`${app.url} answers: nothing to do.`, ...evidence], findings('healthy'));
    const why = causes.map((c) => `Cause: ${c}`);
    const cannot = cannotFix({ probe, ports }, Boolean(app.service));
    if (cannot) return end(false, [...why, ...evidence, `Nothing was changed: ${cannot}.`], findings('cannot-fix'));
    const action = recreateAction({ probe, service, ports }, { compose: Boolean(app.compose), service: app.service });
    if (input.dryRun) return end(false, dryRunSummary(why, evidence, action, { probe }, app.url), findings('dry-run'));

    await rb.lockTarget();
    await rb.gate('force-recreate', {
      prompt: forceRecreatePrompt({ url: app.url, target: input.target, why, action, ports }),
      evidence: { probe, ready: ready ?? null, service: service ?? null, ports: ports ?? null },
    });
    let portsAtApproval: ComposeEvidence | undefined;
    if (ports && !ports.ok) {
      portsAtApproval = await rb.step('port-mapping-again', () => host.appComposePorts(input.target));
      if (!portsAtApproval.ok) {
        const summary = stillUnpublishedSummary(portsAtApproval, evidence);
        return end(false, summary, findings('not-fixed', { portsAtApproval }));
      }
    }
    const recreate = await rb.step('recreate', () => host.serviceAction(input.target, app.service!, 'recreate'), {
      inputs: { service: app.service },
    });
    const after = await rb.step('verify-port', async () => ({
      probe: await act.appTcpProbe(input.target),
      ready: await act.appGet(input.target),
    }));
    const fixed = after.probe.outcome === 'open' && isReady(after.ready);
    const recreated = { fixed, url: app.url, action, after, port: probe.port, portsAtApproval };
    const summary = recreatedSummary(recreated, why, evidence);
    return end(fixed, summary, findings(fixed ? 'fixed' : 'not-fixed', { recreate, after, portsAtApproval }));
  });
}
