import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { catalogue } from './runbooks/catalogue.js';
import { LOGIN_CAUSES } from './util/login-causes.js';
import { METRIC_NAMES, type MetricKey } from './util/prometheus.js';

/**
 * The target registry: the systems runbooks act on, by name. Workflows see names only;
 * the worker resolves a name here to hosts and (from the environment) credentials.
 */

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a Prometheus label name');
const metricName = z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a Prometheus metric name');

/** Key metric → the family name the app exposes it as; each key defaults to the seeds' gestiq_* name. */
const metricNames = z.strictObject(
  Object.fromEntries(Object.entries(METRIC_NAMES).map(([k, v]) => [k, metricName.default(v)])) as Record<
    MetricKey,
    z.ZodDefault<typeof metricName>
  >,
);
const duration = z.string().regex(/^\d+\s*(ms|s|m|h|d)$/, 'must be a duration such as 30s, 15m, 7d');

/** How a restarted service proves it is healthy: every check named must pass within `timeout` (default 60s). */
const health = z.strictObject({
  http: z.string().optional(),
  /** A regular expression a log line written after the restart must match. */
  logLine: z.string().optional(),
  /** Where the command driver's service logs (systemd reads the journal, compose its logs). */
  logFile: z.string().optional(),
  timeout: duration.optional(),
});

/** Each start/stop/restart/status command is killed when it runs longer than this (default 60s). */
const serviceCommon = { health: health.optional(), commandTimeout: duration.optional() };

const service = z.union(
  [
    z.strictObject({ systemd: z.string().regex(/^[A-Za-z0-9@._:-]+$/, 'must be a unit name'), ...serviceCommon }),
    z.strictObject({
      compose: z.strictObject({
        file: z.string(),
        service: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a service name'),
      }),
      ...serviceCommon,
    }),
    z.strictObject({
      command: z.strictObject({ start: z.string(), stop: z.string(), status: z.string().optional() }),
      ...serviceCommon,
    }),
  ],
  {
    error:
      'must name one driver: { systemd: unit }, { compose: { file, service } } or { command: { start, stop, status } }',
  },
);

export type ServiceSpec = z.infer<typeof service>;

const postgres = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().min(1),
  user: z.string().min(1),
  passwordEnv: envName.optional(),
  /** The role the application connects as; a freeze is proved by a write as this role failing. */
  appUser: z.string().optional(),
  appPasswordEnv: envName.optional(),
});

const alembic = z.strictObject({
  dir: z.string().min(1),
  config: z.string().default('alembic.ini'),
  python: z.string().default('/usr/bin/python3'),
  urlEnv: envName.default('DATABASE_URL'),
});

const imports = z.strictObject({
  batches: z.string().default('import_batches'),
  items: z.string().default('import_items'),
  status: z.string().default('status'),
  waiting: z.array(z.string()).default(['pending', 'queued']),
  done: z.array(z.string()).default(['done']),
  /** Statuses of items that failed: retried once each, only with the runbook's retryFailed input. */
  failed: z.array(z.string()).default(['failed']),
  /** The waiting status a retried failed item is set back to before its publish (default: the last of waiting). */
  retryAs: z.string().optional(),
  updatedAt: z.string().default('updated_at'),
  stuckAfter: duration.default('15m'),
  keys: z.string().default('imports:*'),
  flagEnv: envName.default('IMPORTS_ENABLED'),
  logs: z
    .strictObject({
      file: z.string().optional(),
      journal: z.string().optional(),
      startupLogger: z.string().default('app.startup'),
    })
    .optional(),
  celery: z
    .strictObject({
      app: z.string(),
      task: z.string(),
      queue: z.string().default('imports'),
      cwd: z.string().optional(),
      python: z.string().default('/usr/bin/python3'),
      /** The variable the app's Celery config reads the broker URL from (the target's redis.url is put there). */
      brokerEnv: envName.default('BROKER_URL'),
    })
    .optional(),
  service: z.string().optional(),
});

/** The web app users reach: what connection-refused and observability-check probe. */
const app = z.strictObject({
  /** Base URL, as users reach it (http or https); its host and port are what the TCP probe tries. */
  url: z.url(),
  /** The service (under services) that runs it: restarted, or recreated, by connection-refused. */
  service: z.string().optional(),
  ready: z.string().startsWith('/').default('/ready'),
  metrics: z.string().startsWith('/').default('/metrics'),
  requestIdHeader: z.string().default('X-Request-ID'),
  /** Where its request log lines go (else the service's health.logFile, journal or compose logs). */
  logFile: z.string().optional(),
  /** The compose file and service whose `ports:` publish it (connection-refused checks the mapping). */
  compose: z
    .strictObject({
      file: z.string(),
      service: z.string(),
      containerPort: z.number().int().min(1).max(65535).optional(),
    })
    .optional(),
  /** Key metric → family name, over the seeds' defaults (src/util/prometheus.ts, METRIC_NAMES): what alert rules and observability-check read. */
  metricNames: metricNames.prefault({}),
  /** Each probe's deadline (default 5s). */
  timeout: duration.default('5s'),
  /**
   * Files the app needs (missing-container-file): `path` inside the app (relative to its directory
   * or the container's workdir), `source` the good copy on the worker's host (e.g. the deployed repo).
   */
  files: z
    .array(
      z.strictObject({
        path: z.string().regex(/^(?!\/)(?!.*\.\.)/, 'a path relative to the app directory, without ..'),
        source: z.string(),
      }),
    )
    .optional(),
  /** Where the app runs: a container (docker CLI; Podman's docker-compatible CLI works too) or a local directory. */
  container: z
    .strictObject({
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a container name'),
      workdir: z.string().startsWith('/').default('/app'),
    })
    .optional(),
  dir: z.string().optional(),
});

/** The tenant PWA (pwa-stale-cache): where its build is served, which version should be, how to redeploy it. */
const pwa = z.strictObject({
  /** Origin it is served from (default: app.url). */
  url: z.url().optional(),
  /** VITE_BASE_PATH the build must have been made with. */
  basePath: z
    .string()
    .regex(/^\/(.*\/)?$/, 'a path that starts and ends with /, e.g. /tenant/')
    .default('/'),
  /** The version that should be served (the input expectedVersion overrides it). */
  expectedVersion: z.string().optional(),
  /** Under basePath: a JSON file with {"version": …} (Vite builds: write it at build time). */
  versionPath: z.string().default('version.json'),
  serviceWorker: z.string().default('sw.js'),
  /** Rebuilds and redeploys the build (with the right VITE_BASE_PATH); run on the target's host. */
  redeploy: z.strictObject({ command: z.string(), timeout: duration.default('10m') }).optional(),
});

/** Logins (login-errors): the endpoint, the front-end origins, the cookie it should set, TLS, rate limiter, auth failures. */
const login = z.strictObject({
  path: z.string().startsWith('/').default('/login'),
  /** The JSON fields the login takes. */
  usernameField: z.string().default('username'),
  passwordField: z.string().default('password'),
  /** A login that should succeed (to see the session cookie); its password is read from the worker's environment. */
  probe: z.strictObject({ username: z.string().min(1), passwordEnv: envName }).optional(),
  /** The front-end origins that call the login (CORS preflight from each). */
  origins: z.array(z.url()).default([]),
  /** The Domain the session cookie should carry (the app's COOKIE_DOMAIN); unset: a host-only cookie. */
  cookieDomain: z.string().optional(),
  /** The session cookie's name (default: every cookie the login sets is checked). */
  sessionCookie: z.string().optional(),
  /** TLS of an https app.url: a CA file to trust besides the system's, and how many days left is too few. */
  tls: z.strictObject({ ca: z.string().optional(), minDaysLeft: z.number().int().min(0).default(14) }).prefault({}),
  /** Where the rate limiter's switch is read (an env file of the app) and what its log lines say. */
  rateLimit: z
    .strictObject({
      envFile: z.string().optional(),
      variable: envName.default('RATE_LIMIT_ENABLED'),
      logPattern: z.string().default('RateLimitMiddleware'),
    })
    .prefault({}),
  /** The 401/403 share: a Prometheus query answering a ratio, else two samples of app.metrics `window` apart. */
  authFailures: z
    .strictObject({
      window: duration.default('60s'),
      threshold: z.number().gt(0).lt(1).default(0.05),
      minRequests: z.number().int().min(1).default(20),
      prometheus: z.strictObject({ url: z.url(), query: z.string().min(1) }).optional(),
      /** The counter of requests by status in app.metrics (label status or code); default app.metricNames.http-requests. */
      family: metricName.optional(),
    })
    .prefault({}),
});

/** E-invoicing (einvoicing-failed): the signing certificate, the provider environment, the invoice tables, the app's retry endpoint. */
const einvoicing = z.strictObject({
  /** The signing certificate as issued (PKCS#12, .p12); its password from the worker's environment. */
  certificate: z
    .strictObject({ file: z.string(), passwordEnv: envName, minDaysLeft: z.number().int().min(0).default(30) })
    .optional(),
  /** The provider environment the app is configured with (read from its env file) against the one expected. */
  environment: z
    .strictObject({ expected: z.string().min(1), envFile: z.string(), variable: envName.default('EINVOICE_ENV') })
    .optional(),
  /** Counted by state; the first is the one retried (by id through the app). Missing tables are reported, not errors. */
  tables: z
    .array(z.string().regex(/^[a-z_][a-z0-9_]*$/, 'a table name'))
    .min(1)
    .default(['invoices', 'invoices_temp']),
  stateColumn: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'a column name')
    .default('estado'),
  /** States meaning the emission failed (retried); the rest are only counted. */
  failedStates: z.array(z.string()).min(1).default(['rechazada', 'error']),
  /** The app's endpoint that emits one invoice again: POST, {id} replaced, with an Idempotency-Key header. */
  retryPath: z.string().startsWith('/').default('/einvoicing/{id}/emit'),
  /** At most this many invoices are retried by one run. */
  retryLimit: z.number().int().min(1).max(10_000).default(200),
  /** The app's e-invoicing log lines (in app.logFile). */
  logPattern: z.string().default('app.einvoicing'),
});

/** A payment provider (payments-failed): how its webhooks are signed, where the app takes them, the mode it runs in. */
const paymentProvider = z.strictObject({
  /** stripe: Stripe-Signature, made with the official stripe package; hmac: an HMAC of the body in `header`. */
  scheme: z.enum(['stripe', 'hmac']),
  webhookPath: z.string().startsWith('/'),
  /** The webhook signing secret, on the worker (the runbook signs its test events and re-drives with it). */
  secretEnv: envName,
  header: z.string().default('X-Signature'),
  algorithm: z.enum(['sha256', 'sha512', 'sha1']).default('sha256'),
  encoding: z.enum(['hex', 'base64']).default('hex'),
  /** The mode the app runs it in (read from its env file) against the expected one; with keyPrefix the variable holds an API key (sk_live_…/sk_test_…) and only its mode is read. */
  mode: z
    .strictObject({
      expected: z.string().min(1),
      envFile: z.string(),
      variable: envName,
      keyPrefix: z.boolean().default(false),
    })
    .refine((m) => !m.keyPrefix || m.expected === 'live' || m.expected === 'test', {
      message: "with keyPrefix, expected is live or test (what an API key's prefix says)",
      path: ['expected'],
    })
    .optional(),
});

const ident = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'an identifier');

/** Payments (payments-failed): providers, the attempts table, the app's record of webhook events. */
const payments = z.strictObject({
  providers: z.record(z.string().regex(/^[a-z0-9_-]+$/, 'a provider name'), paymentProvider),
  attempts: z
    .strictObject({
      table: ident.default('pos_payments'),
      provider: ident.default('provider'),
      status: ident.default('status'),
      failed: z.array(z.string()).default(['failed', 'error']),
    })
    .prefault({}),
  /** Where the app records each webhook event it received (id, provider, status, the body as received). */
  events: z
    .strictObject({
      table: ident.default('payment_webhook_events'),
      id: ident.default('event_id'),
      provider: ident.default('provider'),
      status: ident.default('status'),
      payload: ident.default('payload'),
      failed: z.array(z.string()).default(['failed']),
    })
    .prefault({}),
  redriveLimit: z.number().int().min(1).max(10_000).default(100),
});

/** A named fix a runbook may offer behind its gate: a command on the target's host, then a restart. */
const remediation = z.strictObject({
  command: z.string().min(1),
  /** The findings it fixes (login-errors causes); offered only when one of them is found. */
  fixes: z.array(z.enum(LOGIN_CAUSES)).min(1),
  /** A service (under services) restarted after the command, proved healthy. */
  restart: z.string().optional(),
  timeout: duration.default('2m'),
  description: z.string().optional(),
});

const smoke = z.union([
  z.strictObject({ name: z.string(), sql: z.string(), expect: z.string() }),
  z.strictObject({ name: z.string(), http: z.string(), expect: z.number().int() }),
]);

const policy = z.strictObject({
  approvers: z.array(z.string()).optional(),
  secondaryApprovers: z.array(z.string()).optional(),
  approvalsNeeded: z.number().int().min(1).optional(),
  fourEyes: z.boolean().optional(),
  unsignedDecisions: z.enum(['allow', 'deny']).optional(),
  /** Runs started without the API's signature (Temporal UI, temporal CLI, raw gRPC). Default deny. */
  unsignedStarts: z.enum(['allow', 'deny']).optional(),
  requirePlanDigest: z.boolean().optional(),
  remindAfter: duration.optional(),
  widenAfter: duration.optional(),
  deadline: duration.optional(),
});

export const targetSchema = z.strictObject({
  description: z.string().optional(),
  postgres: postgres.optional(),
  alembic: alembic.optional(),
  /**
   * How a database repair stops writes. `read-only`: the database refuses them (proved by a write
   * as appUser failing). `services`: the writer services are stopped through the service adapter
   * first (the app's workers finish what they hold instead of failing against a read-only
   * database), and then the same read-only freeze and proof.
   */
  freezeWrites: z.enum(['read-only', 'services']).optional(),
  /** With freezeWrites: services, the services that write (default: every declared service). */
  writerServices: z.array(z.string()).optional(),
  services: z.record(z.string(), service).optional(),
  redis: z
    .strictObject({
      url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
      passwordEnv: envName.optional(),
    })
    .optional(),
  imports: imports.optional(),
  http: z.strictObject({ baseUrl: z.url() }).optional(),
  app: app.optional(),
  pwa: pwa.optional(),
  login: login.optional(),
  einvoicing: einvoicing.optional(),
  payments: payments.optional(),
  taskQueue: z.string().min(1).optional(),
  smoke: z.array(smoke).optional(),
  backups: z
    .strictObject({
      dir: z.string(),
      retention: duration.default('7d'),
      compress: z.number().int().min(0).max(9).optional(),
    })
    .optional(),
  /** Webhooks told of gate openings, escalations and run ends; with secretEnv each post is signed (README, "Notifications"). */
  notify: z
    .array(
      z.strictObject({
        webhook: z.url(),
        format: z.enum(['json', 'slack']).default('json'),
        secretEnv: envName.optional(),
      }),
    )
    .optional(),
  remediations: z
    .record(
      z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'remediation names are lower-case letters, digits and dashes'),
      remediation,
    )
    .optional(),
  policy: policy.optional(),
  /** How alerts find this target, and how `runbook alerts rules` selects its series (README, "Alerts start runbooks"). */
  alerts: z
    .strictObject({
      /** Alerts whose labels include all of these are for this target (else the label runbook_target names it). */
      labels: z.record(z.string(), z.string()).optional(),
      /** Labels every series of this target carries (e.g. env: prod): each generated rule selects on them. */
      selector: z.record(labelName, z.string()).optional(),
      /** The Prometheus jobs that scrape the app and probe its /ready (connection-refused's rules). */
      jobs: z
        .strictObject({ app: z.string().default('gestiq-api'), ready: z.string().default('gestiq-ready') })
        .prefault({}),
    })
    .optional(),
  /**
   * What a scheduled read-only check (`runbook schedule create`) does beyond notifying when it finds
   * a problem, per check: `escalate` names the runbook it then starts through the alert intake
   * (deduplicated like an alert), e.g. `db-access: { escalate: migration-failed }`.
   */
  schedules: z.record(z.string(), z.strictObject({ escalate: z.string().optional() })).optional(),
  /**
   * Variables of the worker's environment this target's commands also get (service commands,
   * remediations, redeploy, alembic, the Celery tools). Every child otherwise gets only PATH, HOME,
   * USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_*, TZ, TMPDIR, RUNBOOK_CHILD_ENV's names and what it needs.
   */
  passEnv: z.array(envName).optional(),
});

const fileSchema = z.strictObject({
  targets: z.record(
    z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'target names are lower-case letters, digits and dashes'),
    targetSchema,
  ),
});

export type TargetSpec = z.infer<typeof targetSchema>;

/** The app's metric family names: app.metricNames, or the defaults for a target without app. */
export function metricNamesOf(spec: TargetSpec): Record<MetricKey, string> {
  return spec.app?.metricNames ?? { ...METRIC_NAMES };
}

/** The counter login-errors reads the 401/403 share from: login.authFailures.family, else app.metricNames.http-requests. */
export function requestsFamily(spec: TargetSpec): string {
  return spec.login?.authFailures.family ?? metricNamesOf(spec)['http-requests'];
}

function withoutCredentials(u: string): string {
  const url = new URL(u);
  url.username = '';
  url.password = '';
  return url.toString();
}

/** `record[key]` for a name a user gave: never an inherited property such as constructor, __proto__ or toString. */
export function ownEntry<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

export class TargetsError extends Error {
  override name = 'TargetsError';
}

/** What a workflow may know of a target: no credentials, no URLs with passwords. */
export interface TargetInfo {
  name: string;
  /** Where host-local steps (alembic, services, logs) must run; undefined: any worker. */
  taskQueue?: string;
  postgres?: { host: string; port: number; database: string; user: string };
  hasAlembic: boolean;
  hasRedis: boolean;
  services: string[];
  /** How writes are frozen before a database repair; undefined: the target declares none. */
  freezeWrites?: 'read-only' | 'services';
  /** The services a `services` freeze stops, in this order (started again in reverse). */
  writerServices: string[];
  /** What stuck-imports needs to know, without secrets. */
  imports?: { service?: string; stuckAfter: string; queue?: string; canPublish: boolean };
  /** The web app (connection-refused, observability-check); its URL carries no credentials. */
  app?: { url: string; service?: string; compose: boolean; files: string[]; runsIn?: 'container' | 'dir' };
  /** The PWA (pwa-stale-cache); no command text. */
  pwa?: { url: string; basePath: string; expectedVersion?: string; canRedeploy: boolean };
  /** Logins (login-errors): the login URL and what it is checked against; no password. */
  login?: {
    url: string;
    origins: string[];
    https: boolean;
    goodLogin: boolean;
    cookieDomain?: string;
    minDaysLeft: number;
    window: string;
    prometheus: boolean;
  };
  /** E-invoicing (einvoicing-failed); no password. */
  einvoicing?: {
    tables: string[];
    failedStates: string[];
    certificate: boolean;
    minDaysLeft: number;
    environment?: string;
    retryLimit: number;
  };
  /** Payments (payments-failed): provider names and schemes; no secret. */
  payments?: {
    providers: Array<{ name: string; scheme: 'stripe' | 'hmac'; expectedMode?: string }>;
    redriveLimit: number;
  };
  /** The named remediations: what each fixes and restarts; never their command text. */
  remediations: Array<{ name: string; fixes: string[]; restart?: string; description?: string }>;
  /** Whether the target names smoke checks. */
  smokeChecks: number;
  /** How long snapshots, dumps and kept databases are kept (backups.retention, default 7d). */
  retention: string;
}

export interface PgConnection {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
}

export class TargetRegistry {
  private constructor(
    readonly file: string,
    private readonly specs: ReadonlyMap<string, TargetSpec>,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Loads and validates the file; every error names the file, the target and the field. */
  static load(file: string, env: NodeJS.ProcessEnv = process.env): TargetRegistry {
    const absolute = path.resolve(file);
    let text: string;
    try {
      text = readFileSync(absolute, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new TargetsError(
        code === 'ENOENT'
          ? `Targets file ${file} does not exist. Create it (see README, "The targets file") or set RUNBOOK_TARGETS to its path.`
          : `Targets file ${file} cannot be read (${code ?? String(err)}).`,
      );
    }
    let raw: unknown;
    try {
      raw = parseYaml(text);
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
      throw new TargetsError(
        `Targets file ${file} is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`,
      );
    }
    const parsed = fileSchema.safeParse(raw);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((issue) => describeIssue(issue));
      throw new TargetsError(`Targets file ${file} is invalid:\n  ${lines.join('\n  ')}`);
    }
    const specs = parsed.data.targets;
    const dir = path.dirname(absolute);
    for (const [name, spec] of Object.entries(specs)) {
      const declared = Object.keys(spec.services ?? {});
      const unknown = (spec.writerServices ?? []).filter((s) => !declared.includes(s));
      if (unknown.length)
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field writerServices: ${unknown.join(', ')} not declared under services (declared: ${declared.join(', ') || 'none'})`,
        );
      if (spec.freezeWrites === 'services' && (spec.writerServices ?? declared).length === 0) {
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field freezeWrites: "services" needs at least one service under services (or use read-only)`,
        );
      }
      if (spec.alembic) spec.alembic.dir = path.resolve(dir, spec.alembic.dir);
      if (spec.imports?.celery?.cwd) spec.imports.celery.cwd = path.resolve(dir, spec.imports.celery.cwd);
      if (spec.imports?.logs?.file) spec.imports.logs.file = path.resolve(dir, spec.imports.logs.file);
      if (spec.imports?.retryAs && !spec.imports.waiting.includes(spec.imports.retryAs)) {
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field imports.retryAs: "${spec.imports.retryAs}" is not one of imports.waiting (${spec.imports.waiting.join(', ')})`,
        );
      }
      if (spec.imports?.service && !declared.includes(spec.imports.service)) {
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field imports.service: "${spec.imports.service}" is not declared under services (declared: ${declared.join(', ') || 'none'})`,
        );
      }
      if (spec.app?.service && !declared.includes(spec.app.service)) {
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field app.service: "${spec.app.service}" is not declared under services (declared: ${declared.join(', ') || 'none'})`,
        );
      }
      if (spec.app?.logFile) spec.app.logFile = path.resolve(dir, spec.app.logFile);
      if (spec.app?.compose) spec.app.compose.file = path.resolve(dir, spec.app.compose.file);
      if (spec.pwa && !spec.pwa.url && !spec.app?.url)
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field pwa.url: needed when the target has no app.url`,
        );
      if (spec.app?.dir) spec.app.dir = path.resolve(dir, spec.app.dir);
      for (const f of spec.app?.files ?? []) f.source = path.resolve(dir, f.source);
      if (spec.app?.files && !spec.app.container === !spec.app.dir) {
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field app: with app.files, name where the app runs: app.container (docker) or app.dir (a local directory), one of them`,
        );
      }
      if (spec.login && !spec.app)
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field login: needs app.url (the login is under it)`,
        );
      if (spec.login?.tls.ca) spec.login.tls.ca = path.resolve(dir, spec.login.tls.ca);
      if (spec.login?.rateLimit.envFile) spec.login.rateLimit.envFile = path.resolve(dir, spec.login.rateLimit.envFile);
      if (spec.einvoicing && (!spec.app || !spec.postgres))
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field einvoicing: needs app.url (the retry endpoint) and postgres (the invoice tables)`,
        );
      if (spec.einvoicing?.certificate)
        spec.einvoicing.certificate.file = path.resolve(dir, spec.einvoicing.certificate.file);
      if (spec.einvoicing?.environment)
        spec.einvoicing.environment.envFile = path.resolve(dir, spec.einvoicing.environment.envFile);
      if (spec.payments && (!spec.app || !spec.postgres))
        throw new TargetsError(
          `Targets file ${file} is invalid:\n  target "${name}", field payments: needs app.url (the webhook endpoints) and postgres (attempts and events)`,
        );
      for (const p of Object.values(spec.payments?.providers ?? {}))
        if (p.mode) p.mode.envFile = path.resolve(dir, p.mode.envFile);
      for (const [rname, r] of Object.entries(spec.remediations ?? {})) {
        if (r.restart && !declared.includes(r.restart)) {
          throw new TargetsError(
            `Targets file ${file} is invalid:\n  target "${name}", field remediations.${rname}.restart: "${r.restart}" is not declared under services (declared: ${declared.join(', ') || 'none'})`,
          );
        }
      }
      for (const [check, s] of Object.entries(spec.schedules ?? {})) {
        const readOnly = catalogue.filter((r) => !r.mutates && r.gates.length === 0).map((r) => r.name);
        if (!readOnly.includes(check))
          throw new TargetsError(
            `Targets file ${file} is invalid:\n  target "${name}", field schedules.${check}: only read-only checks run on a schedule (${readOnly.join(', ')})`,
          );
        if (s.escalate !== undefined && !catalogue.some((r) => r.name === s.escalate)) {
          throw new TargetsError(
            `Targets file ${file} is invalid:\n  target "${name}", field schedules.${check}.escalate: "${s.escalate}" names no runbook (known: ${catalogue.map((r) => r.name).join(', ')})`,
          );
        }
      }
      for (const svc of Object.values(spec.services ?? {})) {
        if ('compose' in svc) svc.compose.file = path.resolve(dir, svc.compose.file);
        if (svc.health?.logFile) svc.health.logFile = path.resolve(dir, svc.health.logFile);
      }
    }
    return new TargetRegistry(file, new Map(Object.entries(specs)), env);
  }

  names(): string[] {
    return [...this.specs.keys()].sort();
  }

  spec(name: string): TargetSpec {
    const spec = this.specs.get(name);
    if (!spec) {
      throw new TargetsError(`Target "${name}" is not in ${this.file} (known: ${this.names().join(', ') || 'none'}).`);
    }
    return spec;
  }

  info(name: string): TargetInfo {
    const spec = this.spec(name);
    const pg = spec.postgres;
    return {
      name,
      taskQueue: spec.taskQueue,
      postgres: pg && { host: pg.host, port: pg.port, database: pg.database, user: pg.user },
      hasAlembic: spec.alembic !== undefined,
      hasRedis: spec.redis !== undefined,
      services: Object.keys(spec.services ?? {}),
      freezeWrites: spec.freezeWrites,
      writerServices: spec.freezeWrites === 'services' ? (spec.writerServices ?? Object.keys(spec.services ?? {})) : [],
      imports: spec.imports && {
        service: spec.imports.service,
        stuckAfter: spec.imports.stuckAfter,
        queue: spec.imports.celery?.queue,
        canPublish: spec.imports.celery !== undefined,
      },
      app: spec.app && {
        url: withoutCredentials(spec.app.url),
        service: spec.app.service,
        compose: spec.app.compose !== undefined,
        files: (spec.app.files ?? []).map((f) => f.path),
        runsIn: spec.app.container ? 'container' : spec.app.dir ? 'dir' : undefined,
      },
      pwa:
        spec.pwa && (spec.pwa.url ?? spec.app?.url)
          ? {
              url: withoutCredentials((spec.pwa.url ?? spec.app?.url)!),
              basePath: spec.pwa.basePath,
              expectedVersion: spec.pwa.expectedVersion,
              canRedeploy: spec.pwa.redeploy !== undefined,
            }
          : undefined,
      login: spec.login &&
        spec.app && {
          url: withoutCredentials(new URL(spec.login.path, spec.app.url).toString()),
          origins: spec.login.origins,
          https: spec.app.url.startsWith('https:'),
          goodLogin: spec.login.probe !== undefined,
          cookieDomain: spec.login.cookieDomain,
          minDaysLeft: spec.login.tls.minDaysLeft,
          window: spec.login.authFailures.window,
          prometheus: spec.login.authFailures.prometheus !== undefined,
        },
      einvoicing: spec.einvoicing && {
        tables: spec.einvoicing.tables,
        failedStates: spec.einvoicing.failedStates,
        certificate: spec.einvoicing.certificate !== undefined,
        minDaysLeft: spec.einvoicing.certificate?.minDaysLeft ?? 30,
        environment: spec.einvoicing.environment?.expected,
        retryLimit: spec.einvoicing.retryLimit,
      },
      payments: spec.payments && {
        providers: Object.entries(spec.payments.providers).map(([n, p]) => ({
          name: n,
          scheme: p.scheme,
          expectedMode: p.mode?.expected,
        })),
        redriveLimit: spec.payments.redriveLimit,
      },
      remediations: Object.entries(spec.remediations ?? {}).map(([n, r]) => ({
        name: n,
        fixes: r.fixes,
        restart: r.restart,
        description: r.description,
      })),
      smokeChecks: spec.smoke?.length ?? 0,
      retention: spec.backups?.retention ?? '7d',
    };
  }

  /** The worker's variables this target's child processes also get (passEnv; names only). */
  passEnv(name: string): string[] {
    return this.spec(name).passEnv ?? [];
  }

  /** The ops role's connection, password read from the variable the file names. */
  postgres(name: string): PgConnection {
    const pg = this.spec(name).postgres;
    if (!pg) throw new TargetsError(`Target "${name}" has no postgres section in ${this.file}.`);
    return {
      host: pg.host,
      port: pg.port,
      database: pg.database,
      user: pg.user,
      password: this.secret(name, pg.passwordEnv),
    };
  }

  /** The app's own role's connection (postgres.appUser), password from appPasswordEnv; undefined when the target names no app role. */
  appPostgres(name: string): PgConnection | undefined {
    const pg = this.spec(name).postgres;
    if (!pg?.appUser) return undefined;
    return {
      host: pg.host,
      port: pg.port,
      database: pg.database,
      user: pg.appUser,
      password: this.secret(name, pg.appPasswordEnv),
    };
  }

  redisUrl(name: string): string {
    const redis = this.spec(name).redis;
    if (!redis) throw new TargetsError(`Target "${name}" has no redis section in ${this.file}.`);
    const password = this.secret(name, redis.passwordEnv);
    if (password === undefined) return redis.url;
    const url = new URL(redis.url);
    url.password = password;
    return url.toString();
  }

  /** Checks that every secret a target names is present, without returning any of them. */
  checkSecrets(name: string): void {
    const spec = this.spec(name);
    this.secret(name, spec.postgres?.passwordEnv);
    this.secret(name, spec.redis?.passwordEnv);
    this.secret(name, spec.login?.probe?.passwordEnv);
    this.secret(name, spec.einvoicing?.certificate?.passwordEnv);
  }

  /** A payment provider's webhook signing secret; undefined (not an error) when its variable is not set: that is a finding. */
  webhookSecret(name: string, provider: string): string | undefined {
    const p = ownEntry(this.spec(name).payments?.providers, provider);
    const v = p ? this.env[p.secretEnv] : undefined;
    return v === undefined || v === '' ? undefined : v;
  }

  /** The password of the e-invoicing certificate (PKCS#12), from the variable the file names. */
  certificatePassword(name: string): string | undefined {
    return this.secret(name, this.spec(name).einvoicing?.certificate?.passwordEnv);
  }

  /**
   * Every secret value a target's variables hold on this worker (database and Redis passwords,
   * the login probe's and the certificate's passwords, webhook and notification secrets): what output from its
   * commands is masked with. Unset variables are skipped, never an error.
   */
  secretValues(name: string): string[] {
    return this.secretVariables(name).flatMap((v) => (this.env[v] ? [this.env[v]] : []));
  }

  /** The names of the variables holding a target's secrets (what a worker's environment must carry for it). */
  secretVariables(name: string): string[] {
    const spec = this.spec(name);
    const vars = [
      spec.postgres?.passwordEnv,
      spec.postgres?.appPasswordEnv,
      spec.redis?.passwordEnv,
      spec.login?.probe?.passwordEnv,
      spec.einvoicing?.certificate?.passwordEnv,
      ...Object.values(spec.payments?.providers ?? {}).map((p) => p.secretEnv),
      ...(spec.notify ?? []).map((n) => n.secretEnv),
    ];
    return vars.filter((v): v is string => v !== undefined);
  }

  /** The HMAC secret a notification webhook is signed with (notify[].secretEnv); its variable unset is an error naming it. */
  notifySecret(name: string, variable: string): string {
    const value = this.env[variable];
    if (value === undefined || value === '') {
      throw new TargetsError(
        `Target "${name}" signs its notifications with the secret in ${variable} (notify[].secretEnv), which is not set in the worker's environment. Set ${variable} on the worker, or remove secretEnv from ${this.file} to send them unsigned.`,
      );
    }
    return value;
  }

  /** The password of login-errors' good-login probe, from the variable the file names. */
  loginProbePassword(name: string): string | undefined {
    return this.secret(name, this.spec(name).login?.probe?.passwordEnv);
  }

  private secret(target: string, variable: string | undefined): string | undefined {
    if (variable === undefined) return undefined;
    const value = this.env[variable];
    if (value === undefined || value === '') {
      throw new TargetsError(
        `Target "${target}" takes its password from ${variable}, which is not set in the worker's environment. Set ${variable}, or remove passwordEnv from ${this.file} if the server needs no password.`,
      );
    }
    return value;
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const [root, target, ...field] = issue.path.map(String);
  if (root !== 'targets' || target === undefined) return `${issue.path.join('.') || '(top level)'}: ${issue.message}`;
  const fieldName = field.join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = fieldName ? `field ${fieldName}` : 'top level';
    const known = fieldName === 'app.metricNames' ? ` (known: ${Object.keys(METRIC_NAMES).join(', ')})` : '';
    return `target "${target}", ${where}: unknown key(s) ${issue.keys.join(', ')}${known}`;
  }
  if (issue.code === 'invalid_key') return `target name "${target}": ${issue.issues[0]?.message ?? issue.message}`;
  return `target "${target}", field ${fieldName || '(the target itself)'}: ${issue.message}`;
}
