import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { ownEntry, type TargetRegistry, type TargetSpec } from '../targets.js';
import { checkComposePorts, ComposeFileError, type PortCheck } from '../util/compose-ports.js';
import { parseDuration } from '../util/duration.js';
import { KEY_METRICS, parseExposition, total, type MetricKey } from '../util/prometheus.js';
import { redact, trimOutput } from '../util/redact.js';
import { childEnv, DOCKER_VARS } from './child-env.js';
import { FailureType, targetSpec } from './errors.js';
import { composeTool, logCommand, logOffset, logSince, runBounded } from './services.js';

/**
 * Probes of the target's web app, as its users reach it: a TCP connect, HTTP requests (errors
 * classified: refused, timeout, DNS, TLS — findings, never crashes), its metrics, a request id
 * followed into its logs, and its compose port mapping. Nothing here changes anything.
 */

export type TcpOutcome = 'open' | 'refused' | 'timeout' | 'dns' | 'unreachable' | 'error';

export interface TcpProbe {
  host: string;
  port: number;
  outcome: TcpOutcome;
  ms: number;
  detail: string;
}

export type HttpErrorKind = 'refused' | 'timeout' | 'dns' | 'tls' | 'reset' | 'other';

export interface HttpProbe {
  /** The path asked for (the base URL is the target's). */
  path: string;
  status: number | null;
  ms: number;
  headers: Record<string, string>;
  body: string;
  error?: { kind: HttpErrorKind; code: string; detail: string };
}

export interface MetricsEvidence {
  http: HttpProbe;
  families: number;
  keyMetrics: Array<{ key: string; family: string; present: boolean; type?: string; total?: number }>;
  missing: string[];
}

export interface RequestTrace {
  requestId: string;
  status: number | null;
  /** The app sent the id back in the same header. */
  echoed: boolean;
  /** The log line that carries the id, or null. */
  line: string | null;
  /** Where the logs were read; null when the target declares no log source. */
  source: string | null;
  detail: string;
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS/;

/** What a failed connection or request means, from the Node error (or its cause). Pure. */
export function classifyNetError(err: unknown): { kind: HttpErrorKind; code: string; detail: string } {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    cause?: { code?: string; message?: string; name?: string };
  };
  const code =
    e.cause?.code ??
    e.code ??
    (e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError' ? 'TIMEOUT' : (e.name ?? 'ERROR'));
  const detail = e.cause?.message ?? e.message ?? String(err);
  const kind: HttpErrorKind =
    code === 'ECONNREFUSED'
      ? 'refused'
      : code === 'TIMEOUT' ||
          code === 'ETIMEDOUT' ||
          code === 'UND_ERR_CONNECT_TIMEOUT' ||
          code === 'UND_ERR_HEADERS_TIMEOUT'
        ? 'timeout'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME'
          ? 'dns'
          : TLS_CODES.test(code)
            ? 'tls'
            : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE'
              ? 'reset'
              : 'other';
  return { kind, code, detail };
}

/** The host and port a URL connects to. */
export function endpointOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<TcpProbe> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (outcome: TcpOutcome, detail: string) => {
      socket.destroy();
      resolve({ host, port, outcome, ms: Math.round(performance.now() - t0), detail });
    };
    socket.setTimeout(timeoutMs, () => done('timeout', `no answer from ${host}:${port} within ${timeoutMs} ms`));
    socket.once('connect', () => done('open', `${host}:${port} accepts connections`));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'ERROR';
      const outcome: TcpOutcome =
        code === 'ECONNREFUSED'
          ? 'refused'
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? 'dns'
            : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
              ? 'unreachable'
              : code === 'ETIMEDOUT'
                ? 'timeout'
                : 'error';
      done(outcome, `${code}: ${err.message}`);
    });
  });
}

const KEPT_HEADERS = [
  'content-type',
  'cache-control',
  'x-request-id',
  'location',
  'server',
  'set-cookie',
  'www-authenticate',
  'retry-after',
];

export function createAppActivities(targets: TargetRegistry, env: NodeJS.ProcessEnv = process.env) {
  function appOf(target: string): NonNullable<TargetSpec['app']> {
    const spec = targetSpec(targets, target);
    if (!spec.app)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no app section in ${targets.file}: add app.url (and app.service to let runbooks restart it).`,
        FailureType.targetConfig,
      );
    return spec.app;
  }

  async function get(
    target: string,
    path: string,
    headers: Record<string, string> = {},
    wholeBody = false,
  ): Promise<HttpProbe> {
    const app = appOf(target);
    const url = new URL(path, app.url);
    const t0 = performance.now();
    try {
      const r = await fetch(url, {
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(parseDuration(app.timeout)),
      });
      const kept: Record<string, string> = {};
      for (const h of KEPT_HEADERS) {
        const v = h === 'set-cookie' ? r.headers.getSetCookie().join('\n') : r.headers.get(h);
        if (v) kept[h] = v;
      }
      const header = app.requestIdHeader.toLowerCase();
      if (!kept[header] && r.headers.get(header)) kept[header] = r.headers.get(header)!;
      const body = await r.text();
      return {
        path,
        status: r.status,
        ms: Math.round(performance.now() - t0),
        headers: kept,
        body: wholeBody ? body : trimOutput(redact(body), 20, 2000),
      };
    } catch (err) {
      return {
        path,
        status: null,
        ms: Math.round(performance.now() - t0),
        headers: {},
        body: '',
        error: classifyNetError(err),
      };
    }
  }

  /** The app's log text written since the marks taken by `mark()`; null source when none is declared. */
  async function logReader(target: string) {
    const app = appOf(target);
    const svc = app.service ? ownEntry(targets.spec(target).services, app.service) : undefined;
    const file = app.logFile ?? svc?.health?.logFile;
    if (file) {
      const offset = await logOffset(file);
      return { source: file, read: () => logSince(file, offset) };
    }
    if (svc && !('command' in svc)) {
      const sinceS = Math.floor(Date.now() / 1000) - 1;
      const planned = logCommand(svc, sinceS, 'compose' in svc ? await composeTool(env) : undefined)!;
      return {
        source: planned.shown,
        read: async () => {
          const r = await runBounded(planned.argv, 15_000, undefined, childEnv({}, { pass: DOCKER_VARS, env }));
          if (r.missing || r.exitCode !== 0)
            throw new Error(
              `${planned.shown} ${r.missing ? 'is not installed here' : `exited ${r.exitCode}: ${trimOutput(r.output, 3, 300)}`}`,
            );
          return r.output;
        },
      };
    }
    return { source: null, read: async () => '' };
  }

  return {
    /** TCP connect to the app's host and port. */
    async appTcpProbe(target: string): Promise<TcpProbe> {
      const app = appOf(target);
      const { host, port } = endpointOf(app.url);
      return tcpProbe(host, port, parseDuration(app.timeout));
    },

    /** GET a path of the app (default its readiness path); errors come back as evidence. */
    async appGet(target: string, path?: string): Promise<HttpProbe> {
      return get(target, path ?? appOf(target).ready);
    },

    /** The metrics endpoint: which of the seeds' key metric families it exposes, and their totals. */
    async appMetrics(target: string): Promise<MetricsEvidence> {
      const app = appOf(target);
      const http = await get(target, app.metrics, {}, true);
      const families = http.status === 200 ? parseExposition(http.body) : new Map<string, never>();
      const keyMetrics = (Object.keys(KEY_METRICS) as MetricKey[]).map((key) => {
        const family = app.metricNames[key];
        const f = families.get(family);
        return { key, family, present: f !== undefined && f.samples.length > 0, type: f?.type, total: total(f) };
      });
      return {
        http: { ...http, body: trimOutput(redact(http.body), 5, 400) },
        families: families.size,
        keyMetrics,
        missing: keyMetrics.filter((m) => !m.present).map((m) => m.family),
      };
    },

    /**
     * Sends a request with a fresh request id and looks for that id in the app's logs (for up to
     * 10 s, as logs are written asynchronously): the seeds' "filter logs by request_id".
     */
    async appRequestTrace(target: string): Promise<RequestTrace> {
      const app = appOf(target);
      const requestId = `rb-${randomUUID()}`;
      const logs = await logReader(target);
      const r = await get(target, app.ready, { [app.requestIdHeader]: requestId });
      const echoed = r.headers[app.requestIdHeader.toLowerCase()] === requestId;
      const base = { requestId, status: r.status, echoed, source: logs.source };
      if (r.error)
        return {
          ...base,
          line: null,
          detail: `the request failed (${r.error.kind}: ${r.error.detail}), so no id could be followed`,
        };
      if (!logs.source)
        return {
          ...base,
          line: null,
          detail:
            'the target declares no log source (app.logFile, or a systemd/compose service): the logs were not checked',
        };
      for (let i = 0; i < 20; i++) {
        let text: string;
        try {
          text = await logs.read();
        } catch (err) {
          return { ...base, line: null, detail: `the logs could not be read: ${(err as Error).message}` };
        }
        const line = text.split('\n').find((l) => l.includes(requestId));
        if (line) return { ...base, line: trimOutput(redact(line), 1, 500), detail: `found in ${logs.source}` };
        await new Promise((res) => setTimeout(res, 500));
      }
      return { ...base, line: null, detail: `no line with ${requestId} in ${logs.source} within 10 s of the request` };
    },

    /** Whether the compose file publishes the app's port where users connect. Malformed files are findings. */
    async appComposePorts(target: string): Promise<PortCheck & { file: string; malformed?: string }> {
      const app = appOf(target);
      if (!app.compose)
        throw ApplicationFailure.nonRetryable(
          `Target "${target}" declares no app.compose in ${targets.file}.`,
          FailureType.targetConfig,
        );
      const { file, service } = app.compose;
      const { port } = endpointOf(app.url);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        return {
          file,
          service,
          ok: false,
          mappings: [],
          malformed: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        };
      }
      try {
        return { file, ...checkComposePorts(text, service, port, app.compose.containerPort ?? port) };
      } catch (err) {
        if (err instanceof ComposeFileError)
          return {
            file,
            service,
            ok: false,
            mappings: [],
            malformed: `${file} is not a usable compose file: ${err.message}`,
          };
        throw err;
      }
    },
  };
}
