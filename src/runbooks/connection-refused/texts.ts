import type { HttpProbe, ServiceStatus, TcpProbe } from '../../activities/index.js';
import type { ComposeEvidence } from './workflow.js';

/** connection-refused's texts: the evidence in words, why it cannot be fixed, the gate's prompt, the summaries. */

export interface Evidence {
  probe: TcpProbe;
  ready?: HttpProbe;
  service?: ServiceStatus;
  ports?: ComposeEvidence;
}

function serviceState(running: boolean | null): string {
  if (running === null) return 'unknown';
  return running ? 'running' : 'not running';
}

/** The evidence, one line per check: the port, the ready path, the service, the compose mapping. */
export function evidenceLines({ probe, ready, service, ports }: Evidence): string[] {
  const lines = [`TCP ${probe.host}:${probe.port}: ${probe.outcome} (${probe.ms} ms).`];
  if (ready)
    lines.push(`GET ${ready.path}: ${ready.error ? `${ready.error.kind} (${ready.error.detail})` : ready.status}.`);
  lines.push(
    service
      ? `Service ${service.service} (${service.driver}): ${serviceState(service.running)}: ${service.detail}.`
      : 'No app.service declared: its state is unknown.',
  );
  if (ports)
    lines.push(
      `Compose ${ports.file}, service ${ports.service}: ${ports.malformed ?? (ports.ok ? `publishes ${probe.port}` : ports.problem)}.`,
    );
  return lines;
}

/** Why the run cannot fix it, if it cannot: a name that does not resolve, no service, an unusable compose file. */
export function cannotFix(e: Evidence, declaresService: boolean): string | undefined {
  if (e.probe.outcome === 'dns') return 'the host name does not resolve';
  if (!declaresService) return 'the target declares no app.service to recreate or restart';
  if (e.ports?.malformed) return `the compose file cannot be used (${e.ports.malformed})`;
  return undefined;
}

/** The action the run proposes: recreate the compose service, or restart the service. */
export function recreateAction(e: Evidence, f: { compose: boolean; service?: string }): string {
  return f.compose
    ? `docker compose up -d --force-recreate ${e.ports?.service}`
    : `restart ${f.service} through its ${e.service?.driver ?? 'service'} driver`;
}

export function dryRunSummary(why: string[], evidence: string[], action: string, e: Evidence, url: string): string[] {
  return [
    'Dry run: nothing was changed.',
    ...why,
    ...evidence,
    `Would: ${action}, then probe ${e.probe.host}:${e.probe.port} and ${url} again.`,
  ];
}

export function forceRecreatePrompt(f: {
  url: string;
  target: string;
  why: string[];
  action: string;
  ports?: ComposeEvidence;
}) {
  const fixFirst =
    f.ports && !f.ports.ok
      ? ' The compose file does not publish the port: fix it BEFORE approving (the mapping is read again at approval; the recreate is refused while it is still wrong).'
      : '';
  return `${f.url} does not answer on ${f.target}. ${f.why.join(' ')} Plan: ${f.action}, then verify the port answers and the app is ready.${fixFirst}`;
}

/** The summary when the compose file still does not publish the port at approval. */
export function stillUnpublishedSummary(ports: ComposeEvidence, evidence: string[]): string[] {
  return [
    `Not recreated: ${ports.file} still does not publish the port (${ports.malformed ?? ports.problem}). Fix it:\n${ports.fix ?? ''}`,
    ...evidence,
  ];
}

/** The summary after the recreate: answering again or not, and the compose file fixed meanwhile. */
export function recreatedSummary(
  f: {
    fixed: boolean;
    url: string;
    action: string;
    after: { probe: TcpProbe; ready: HttpProbe };
    port: number;
    portsAtApproval?: ComposeEvidence;
  },
  why: string[],
  evidence: string[],
): string[] {
  const { probe, ready } = f.after;
  return [
    f.fixed
      ? `Fixed: ${f.url} answers again (${ready.path} ${ready.status} in ${ready.ms} ms) after ${f.action}.`
      : `Still not answering after ${f.action}: TCP ${probe.outcome}, ${ready.path} ${ready.error?.kind ?? ready.status}.`,
    ...why,
    ...evidence,
    ...(f.portsAtApproval
      ? [`The compose file was fixed before the recreate: ${f.portsAtApproval.file} now publishes ${f.port}.`]
      : []),
  ];
}
