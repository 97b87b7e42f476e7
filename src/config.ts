import { existsSync } from 'node:fs';
import { z } from 'zod';
import { publicKeyOf } from './contract/signing.js';

/** Every environment variable the project reads, validated once at start. */
const anyPort = (name: string) =>
  z.coerce
    .number({ error: `${name} must be a port number (1-65535)` })
    .int(`${name} must be a port number (1-65535)`)
    .min(1, `${name} must be a port number (1-65535)`)
    .max(65535, `${name} must be a port number (1-65535)`);
const port = (name: string, fallback: number) => anyPort(name).default(fallback);

const hostPort = (name: string) =>
  z
    .string()
    .regex(/^[^\s:/]+:\d{1,5}$/, `${name} must be host:port, e.g. 127.0.0.1:7233`)
    .optional();

const nonEmpty = (name: string, fallback: string) => z.string().min(1, `${name} must not be empty`).default(fallback);

export const envSchema = z.object({
  TEMPORAL_ADDRESS: hostPort('TEMPORAL_ADDRESS'),
  TEMPORAL_NAMESPACE: nonEmpty('TEMPORAL_NAMESPACE', 'default'),
  TEMPORAL_PORT: port('TEMPORAL_PORT', 7233),
  TEMPORAL_UI_PORT: port('TEMPORAL_UI_PORT', 8233),
  TEMPORAL_UI_URL: z.url('TEMPORAL_UI_URL must be a URL, e.g. http://127.0.0.1:8233').optional(),
  /** TLS to Temporal with the system's CAs (implied by the variables below and by TEMPORAL_API_KEY). */
  TEMPORAL_TLS: z.enum(['true', 'false', '1', '0'], { error: 'TEMPORAL_TLS must be true or false' }).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** Temporal Cloud's API key (a secret: never logged). */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_CLI_PATH: z.string().min(1, 'TEMPORAL_CLI_PATH must be the path of a temporal binary').optional(),
  RUNBOOK_TASK_QUEUE: nonEmpty('RUNBOOK_TASK_QUEUE', 'runbooks'),
  /** register (default): the worker adds our search attributes on a server we did not start; skip: an operator did. */
  RUNBOOK_SEARCH_ATTRIBUTES: z
    .enum(['register', 'skip'], { error: 'RUNBOOK_SEARCH_ATTRIBUTES must be register or skip' })
    .default('register'),
  RUNBOOK_TARGETS: z.string().min(1, 'RUNBOOK_TARGETS must not be empty').optional(),
  RUNBOOK_DATA_DIR: nonEmpty('RUNBOOK_DATA_DIR', '.data'),
  RUNBOOK_API_HOST: nonEmpty('RUNBOOK_API_HOST', '127.0.0.1'),
  RUNBOOK_API_PORT: port('RUNBOOK_API_PORT', 8080),
  /** Where this process serves GET /metrics (Prometheus); unset: no metrics endpoint. */
  RUNBOOK_METRICS_PORT: anyPort('RUNBOOK_METRICS_PORT').optional(),
  RUNBOOK_METRICS_HOST: nonEmpty('RUNBOOK_METRICS_HOST', '127.0.0.1'),
  /** OpenTelemetry's own variables: with an OTLP/HTTP endpoint set, this process sends traces there; unset: no tracing. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .url({
      protocol: /^https?$/,
      error: "OTEL_EXPORTER_OTLP_ENDPOINT must be the collector's OTLP/HTTP base URL, e.g. http://otel-collector:4318",
    })
    .optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z
    .url({
      protocol: /^https?$/,
      error:
        'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be the full URL traces are posted to, e.g. http://otel-collector:4318/v1/traces',
    })
    .optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  RUNBOOK_API_TOKENS: z.string().min(1).optional(),
  RUNBOOK_PUBLIC_URL: z.url('RUNBOOK_PUBLIC_URL must be a URL, e.g. https://runbooks.example.com').optional(),
  RUNBOOK_CODEC_ORIGINS: z
    .string()
    .refine(
      (v) => v.split(',').every((o) => webOrigin(o.trim()) !== undefined),
      'RUNBOOK_CODEC_ORIGINS must be comma-separated http(s) origins, e.g. http://127.0.0.1:8233',
    )
    .optional(),
  RUNBOOK_STATE_DATABASE_URL: z
    .string()
    .refine(
      (v) => URL.canParse(v) && ['postgres:', 'postgresql:'].includes(new URL(v).protocol),
      'RUNBOOK_STATE_DATABASE_URL must be a postgres:// URL, e.g. postgres://runbooks:…@db.internal:5432/runbooks',
    )
    .optional(),
  RUNBOOK_SESSION_SAMESITE: z
    .enum(['Strict', 'Lax', 'None'], { error: 'RUNBOOK_SESSION_SAMESITE must be Strict, Lax or None' })
    .default('Strict'),
  RUNBOOK_DECISION_KEY: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'RUNBOOK_DECISION_KEY must be 64 hex characters (an Ed25519 private key)')
    .optional(),
  RUNBOOK_DECISION_PUBLIC_KEY: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'RUNBOOK_DECISION_PUBLIC_KEY must be 64 hex characters (an Ed25519 public key)')
    .optional(),
  RUNBOOK_OIDC_ISSUER: z
    .url("RUNBOOK_OIDC_ISSUER must be the OpenID provider's issuer URL, e.g. https://login.example.com/realms/ops")
    .optional(),
  RUNBOOK_OIDC_CLIENT_ID: z.string().min(1).optional(),
  RUNBOOK_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  RUNBOOK_OIDC_AUDIENCE: z.string().min(1).optional(),
  RUNBOOK_OIDC_ROLES: z.string().min(1).optional(),
  RUNBOOK_OIDC_ROLES_CLAIM: nonEmpty('RUNBOOK_OIDC_ROLES_CLAIM', 'groups'),
  RUNBOOK_OIDC_NAME_CLAIM: nonEmpty('RUNBOOK_OIDC_NAME_CLAIM', 'email'),
  RUNBOOK_OIDC_PROVIDER_NAME: nonEmpty('RUNBOOK_OIDC_PROVIDER_NAME', 'SSO'),
  /** Names (not values) of the worker's variables every child process gets besides the base (src/activities/child-env.ts). */
  RUNBOOK_CHILD_ENV: z
    .string()
    .regex(
      /^\s*[A-Za-z_][A-Za-z0-9_]*\s*(,\s*[A-Za-z_][A-Za-z0-9_]*\s*)*$/,
      'RUNBOOK_CHILD_ENV must be comma-separated variable names, e.g. HTTPS_PROXY,SSL_CERT_FILE',
    )
    .refine(
      (v) => !/\bRUNBOOK_(PAYLOAD_KEY|PAYLOAD_OLD_KEYS|DECISION_KEY)\b/.test(v),
      "RUNBOOK_CHILD_ENV must not name the worker's own keys (RUNBOOK_PAYLOAD_KEY, RUNBOOK_PAYLOAD_OLD_KEYS, RUNBOOK_DECISION_KEY)",
    )
    .optional(),
  LOG_LEVEL: z
    .enum(['trace', 'debug', 'info', 'warn', 'error'], {
      error: 'LOG_LEVEL must be one of trace, debug, info, warn, error',
    })
    .default('warn'),
});

export type Env = z.infer<typeof envSchema>;

/** Variables whose values are secrets: an error names them, never shows them. */
const secretVariables = new Set([
  'RUNBOOK_STATE_DATABASE_URL',
  'RUNBOOK_DECISION_KEY',
  'RUNBOOK_OIDC_CLIENT_SECRET',
  'TEMPORAL_API_KEY',
]);

/** `scheme://host[:port]` of an http(s) URL; undefined for anything else (an origin of "null" must never be allowed). */
export function webOrigin(url: string): string | undefined {
  if (!URL.canParse(url)) return undefined;
  const u = new URL(url);
  return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
}

export interface Config {
  /** Set when the user points at a running server; then no dev server is started. */
  temporalAddress?: string;
  namespace: string;
  /** TLS (files, read when connecting) and Temporal Cloud's API key; see src/temporal/connection.ts. */
  temporal: {
    tls?: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string };
    apiKey?: string;
  };
  /** Whether the worker registers our search attributes on a server we did not start. */
  searchAttributes: Env['RUNBOOK_SEARCH_ATTRIBUTES'];
  devServer: { port: number; uiPort: number };
  uiUrl: string;
  temporalCliPath?: string;
  taskQueue: string;
  targetsFile: string;
  dataDir: string;
  api: { host: string; port: number };
  /** GET /metrics of this process (worker, API or both under npm start); absent when RUNBOOK_METRICS_PORT is unset. */
  metrics?: { host: string; port: number };
  /** Traces of this process, sent as OTLP/HTTP to `url`; absent when no OTLP endpoint is set. */
  tracing?: { url: string; serviceName?: string };
  /** Base of the links in notifications; default http://<api host>:<port>. */
  publicUrl: string;
  /** Browser origins (the Temporal UI's) that may call the API's codec with the console session cookie. */
  codecOrigins: string[];
  /** API replicas' shared sessions and sign-ins (PostgreSQL); absent: in the API's memory. Holds a password. */
  stateDatabaseUrl?: string;
  /** The console session cookie's SameSite: Strict while the UI and the API share a host. */
  sessionSameSite: Env['RUNBOOK_SESSION_SAMESITE'];
  /** The API's tokens file (hashes). */
  tokensFile?: string;
  /** API side: signs decisions. Secret. */
  decisionKey?: string;
  /** Worker side: verifies them. Public. */
  decisionPublicKey?: string;
  logLevel: Env['LOG_LEVEL'];
  /** Single sign-on for people (OpenID Connect); absent: API tokens only. */
  oidc?: {
    issuer: string;
    clientId: string;
    clientSecret?: string;
    audience?: string;
    roleMap: string;
    rolesClaim: string;
    nameClaim: string;
    providerName: string;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the environment once; an invalid value names the variable and what it expects. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(
    Object.keys(envSchema.shape).flatMap((k) => (env[k] === undefined || env[k] === '' ? [] : [[k, env[k]]])),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0]);
      return `${name}=${secretVariables.has(name) ? '(value hidden)' : JSON.stringify(env[name])}: ${i.message}`;
    });
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  if (e.RUNBOOK_SESSION_SAMESITE === 'None' && !e.RUNBOOK_PUBLIC_URL?.startsWith('https:')) {
    throw new ConfigError(
      'Invalid configuration:\n  RUNBOOK_SESSION_SAMESITE=None: browsers keep such a cookie only over https; serve the API over https and set RUNBOOK_PUBLIC_URL=https://…, or keep Strict with the UI and the API on one host.',
    );
  }
  if (e.RUNBOOK_OIDC_ISSUER && (!e.RUNBOOK_OIDC_CLIENT_ID || !e.RUNBOOK_OIDC_ROLES)) {
    throw new ConfigError(
      'Invalid configuration:\n  RUNBOOK_OIDC_ISSUER is set: single sign-on also needs RUNBOOK_OIDC_CLIENT_ID (the console\'s client at the provider) and RUNBOOK_OIDC_ROLES (which groups get which roles, e.g. {"sre": ["operator", "approver"]}). See README, "Single sign-on".',
    );
  }
  if (Boolean(e.TEMPORAL_TLS_CERT) !== Boolean(e.TEMPORAL_TLS_KEY)) {
    throw new ConfigError(
      `Invalid configuration:\n  ${e.TEMPORAL_TLS_CERT ? 'TEMPORAL_TLS_CERT is set without TEMPORAL_TLS_KEY' : 'TEMPORAL_TLS_KEY is set without TEMPORAL_TLS_CERT'}: mTLS needs both the client certificate and its private key.`,
    );
  }
  const tlsOff = e.TEMPORAL_TLS === 'false' || e.TEMPORAL_TLS === '0';
  if (tlsOff && (e.TEMPORAL_TLS_CA || e.TEMPORAL_TLS_CERT || e.TEMPORAL_TLS_SERVER_NAME)) {
    throw new ConfigError(
      'Invalid configuration:\n  TEMPORAL_TLS=false, but TEMPORAL_TLS_CA, TEMPORAL_TLS_CERT or TEMPORAL_TLS_SERVER_NAME is set: those need TLS. Unset TEMPORAL_TLS or them.',
    );
  }
  if (
    !e.TEMPORAL_ADDRESS &&
    (e.TEMPORAL_TLS_CA ||
      e.TEMPORAL_TLS_CERT ||
      e.TEMPORAL_TLS_SERVER_NAME ||
      e.TEMPORAL_API_KEY ||
      e.TEMPORAL_TLS === 'true' ||
      e.TEMPORAL_TLS === '1')
  ) {
    throw new ConfigError(
      'Invalid configuration:\n  TEMPORAL_TLS_* or TEMPORAL_API_KEY is set but TEMPORAL_ADDRESS is not: the dev server `npm start` runs speaks plain gRPC. Set TEMPORAL_ADDRESS to your server (README, "Production"), or unset the TLS variables.',
    );
  }
  const tlsOn =
    !tlsOff &&
    Boolean(
      e.TEMPORAL_TLS === 'true' ||
      e.TEMPORAL_TLS === '1' ||
      e.TEMPORAL_TLS_CA ||
      e.TEMPORAL_TLS_CERT ||
      e.TEMPORAL_TLS_SERVER_NAME ||
      e.TEMPORAL_API_KEY,
    );
  const uiUrl = e.TEMPORAL_UI_URL ?? `http://127.0.0.1:${e.TEMPORAL_UI_PORT}`;
  const tracesUrl = otlpTracesUrl(e);
  return {
    temporalAddress: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    temporal: {
      tls: tlsOn
        ? {
            caFile: e.TEMPORAL_TLS_CA,
            certFile: e.TEMPORAL_TLS_CERT,
            keyFile: e.TEMPORAL_TLS_KEY,
            serverName: e.TEMPORAL_TLS_SERVER_NAME,
          }
        : undefined,
      apiKey: e.TEMPORAL_API_KEY,
    },
    searchAttributes: e.RUNBOOK_SEARCH_ATTRIBUTES,
    devServer: { port: e.TEMPORAL_PORT, uiPort: e.TEMPORAL_UI_PORT },
    uiUrl,
    temporalCliPath: e.TEMPORAL_CLI_PATH,
    taskQueue: e.RUNBOOK_TASK_QUEUE,
    targetsFile: e.RUNBOOK_TARGETS ?? defaultTargetsFile(),
    dataDir: e.RUNBOOK_DATA_DIR,
    api: { host: e.RUNBOOK_API_HOST, port: e.RUNBOOK_API_PORT },
    metrics:
      e.RUNBOOK_METRICS_PORT !== undefined ? { host: e.RUNBOOK_METRICS_HOST, port: e.RUNBOOK_METRICS_PORT } : undefined,
    tracing: tracesUrl ? { url: tracesUrl, serviceName: e.OTEL_SERVICE_NAME } : undefined,
    publicUrl:
      e.RUNBOOK_PUBLIC_URL ??
      `http://${e.RUNBOOK_API_HOST === '0.0.0.0' ? '127.0.0.1' : e.RUNBOOK_API_HOST}:${e.RUNBOOK_API_PORT}`,
    codecOrigins: e.RUNBOOK_CODEC_ORIGINS
      ? e.RUNBOOK_CODEC_ORIGINS.split(',').map((o) => webOrigin(o.trim())!)
      : [webOrigin(uiUrl)].filter((o) => o !== undefined),
    stateDatabaseUrl: e.RUNBOOK_STATE_DATABASE_URL,
    sessionSameSite: e.RUNBOOK_SESSION_SAMESITE,
    tokensFile: e.RUNBOOK_API_TOKENS,
    decisionKey: e.RUNBOOK_DECISION_KEY,
    decisionPublicKey:
      e.RUNBOOK_DECISION_PUBLIC_KEY ?? (e.RUNBOOK_DECISION_KEY ? publicKeyOf(e.RUNBOOK_DECISION_KEY) : undefined),
    logLevel: e.LOG_LEVEL,
    oidc: e.RUNBOOK_OIDC_ISSUER
      ? {
          issuer: e.RUNBOOK_OIDC_ISSUER,
          clientId: e.RUNBOOK_OIDC_CLIENT_ID!,
          clientSecret: e.RUNBOOK_OIDC_CLIENT_SECRET,
          audience: e.RUNBOOK_OIDC_AUDIENCE,
          roleMap: e.RUNBOOK_OIDC_ROLES!,
          rolesClaim: e.RUNBOOK_OIDC_ROLES_CLAIM,
          nameClaim: e.RUNBOOK_OIDC_NAME_CLAIM,
          providerName: e.RUNBOOK_OIDC_PROVIDER_NAME,
        }
      : undefined,
  };
}

/** Where OTLP/HTTP traces go, as OpenTelemetry's SDKs read it: the traces URL as given, else `/v1/traces` under the base endpoint. */
function otlpTracesUrl(e: Env): string | undefined {
  if (e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (e.OTEL_EXPORTER_OTLP_ENDPOINT) return `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return undefined;
}

/**
 * `runbooks.targets.yaml` when it exists; otherwise the shipped `targets.local.yaml` (this
 * machine's PostgreSQL and Redis), so a fresh checkout works for npm start and the CLI alike.
 */
export function defaultTargetsFile(): string {
  if (!existsSync('runbooks.targets.yaml') && existsSync('targets.local.yaml')) return 'targets.local.yaml';
  return 'runbooks.targets.yaml';
}

/** The address clients and workers connect to: the user's server, or our dev server. */
export function temporalAddress(config: Config): string {
  return config.temporalAddress ?? `127.0.0.1:${config.devServer.port}`;
}
