import { parse as parseYaml } from 'yaml';

/**
 * Does a docker compose file publish a service's port where users connect? Pure: the seeds'
 * `ports: ["8000:8000"]` missing or wrong is reported with the lines that fix it.
 */

export interface PortMapping {
  hostIp?: string;
  published?: number;
  target: number;
  protocol: string;
  /** As written in the file. */
  text: string;
}

export interface PortCheck {
  ok: boolean;
  service: string;
  mappings: PortMapping[];
  /** What is wrong, in a sentence; undefined when ok. */
  problem?: string;
  /** The YAML that fixes it. */
  fix?: string;
}

export class ComposeFileError extends Error {
  override name = 'ComposeFileError';
}

function range(s: string): number[] {
  const [a, b] = s.split('-').map(Number);
  if (!Number.isInteger(a) || (b !== undefined && !Number.isInteger(b)))
    throw new ComposeFileError(`"${s}" is not a port or port range`);
  return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
}

/** One `ports:` entry (short string/number or long form) to its mappings (a range gives several). */
export function parsePortEntry(entry: unknown): PortMapping[] {
  if (typeof entry === 'number')
    return [{ hostIp: undefined, published: undefined, target: entry, protocol: 'tcp', text: String(entry) }];
  if (typeof entry === 'string') {
    const [spec, protocol = 'tcp'] = entry.split('/');
    // host_ip may be IPv6 in brackets; split from the right: [[ip:]published:]target
    const m = /^(?:(\[[^\]]+\]|\d{1,3}(?:\.\d{1,3}){3}):)?(?:([\d-]*):)?([\d-]+)$/.exec(spec!);
    if (!m) throw new ComposeFileError(`ports entry "${entry}" is not [host_ip:][published:]target[/protocol]`);
    const targets = range(m[3]!);
    const published = m[2] ? range(m[2]) : undefined;
    return targets.map((target, i) => ({
      hostIp: m[1] || undefined,
      published: published?.[i] ?? published?.[0],
      target,
      protocol,
      text: entry,
    }));
  }
  if (entry && typeof entry === 'object' && 'target' in entry) {
    const e = entry as { target: number | string; published?: number | string; host_ip?: string; protocol?: string };
    return [
      {
        hostIp: e.host_ip,
        published: e.published === undefined ? undefined : Number(e.published),
        target: Number(e.target),
        protocol: e.protocol ?? 'tcp',
        text: JSON.stringify(entry),
      },
    ];
  }
  throw new ComposeFileError(
    `ports entry ${JSON.stringify(entry)} is neither "published:target" nor { target, published }`,
  );
}

/**
 * Checks that `service` publishes container port `containerPort` on host port `hostPort`
 * (TCP, on an address the probe reaches). Throws ComposeFileError for a file that is not compose YAML.
 */
export function checkComposePorts(
  yamlText: string,
  service: string,
  hostPort: number,
  containerPort = hostPort,
): PortCheck {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (err) {
    throw new ComposeFileError(`not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const services = (doc as { services?: Record<string, unknown> } | null)?.services;
  if (!services || typeof services !== 'object') throw new ComposeFileError('no top-level "services:" mapping');
  const svc = (Object.hasOwn(services, service) ? services[service] : undefined) as
    { ports?: unknown; network_mode?: string } | undefined;
  const fixLines = `services:\n  ${service}:\n    ports:\n      - "${hostPort}:${containerPort}"`;
  if (!svc)
    return {
      ok: false,
      service,
      mappings: [],
      problem: `service "${service}" is not in the file (services: ${Object.keys(services).join(', ')})`,
      fix: fixLines,
    };
  if (svc.network_mode === 'host') return { ok: true, service, mappings: [] };
  if (svc.ports !== undefined && !Array.isArray(svc.ports))
    throw new ComposeFileError(`services.${service}.ports is not a list`);
  const mappings = ((svc.ports as unknown[] | undefined) ?? []).flatMap(parsePortEntry);
  if (mappings.length === 0)
    return {
      ok: false,
      service,
      mappings,
      problem: `service "${service}" publishes no ports: nothing outside the container reaches port ${containerPort}`,
      fix: fixLines,
    };
  const tcp = mappings.filter((m) => m.protocol === 'tcp');
  if (
    tcp.some(
      (m) =>
        m.target === containerPort &&
        m.published === hostPort &&
        (m.hostIp === undefined || ['0.0.0.0', '127.0.0.1', '::', '[::]'].includes(m.hostIp)),
    )
  ) {
    return { ok: true, service, mappings };
  }
  const near = tcp.find((m) => m.target === containerPort) ?? tcp.find((m) => m.published === hostPort);
  const problem = near
    ? near.published === undefined
      ? `"${near.text}" publishes container port ${near.target} on a random host port, not ${hostPort}`
      : `"${near.text}" maps host port ${near.published} to container port ${near.target}, not ${hostPort} → ${containerPort}`
    : `no mapping to container port ${containerPort} (has: ${mappings.map((m) => m.text).join(', ')})`;
  return { ok: false, service, mappings, problem, fix: fixLines };
}
