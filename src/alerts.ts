import { stringify } from 'yaml';
import { catalogue } from './runbooks/catalogue.js';
import { metricNamesOf, requestsFamily, type TargetRegistry, type TargetSpec } from './targets.js';
import { KEY_METRICS, type MetricKey, type MetricNames } from './util/prometheus.js';
import type { AlertInput } from './contract/messages.js';

/**
 * Alerts that start runbooks (the seeds' open item: "add the expected metrics/alerts for each
 * incident"). Every runbook whose symptom a metric can show has a rule here, generated for each
 * target that declares what the runbook needs, with the target's metric names (app.metricNames)
 * and series selector (alerts.selector). Each rule is labelled `runbook` and `runbook_target`, so
 * `POST /alerts/alertmanager` routes what it fires to that runbook on that target.
 * `runbook alerts rules` prints them as a Prometheus rules file. Pure, apart from reading the
 * target registry it is given.
 */

/** Runbooks no metric can start: someone decides to run them. */
export const startedByHand: Record<string, string> = {
  'approval-drill': 'a drill of the approval path',
  janitor: 'housekeeping after other runs (or on a schedule): nothing a metric shows',
  preflight: 'run before an incident (or on a schedule), not for a symptom',
  'redis-health':
    "a read-only check of the target's Redis, by hand or on a schedule; stuck-imports answers the imports' alerts",
  'release-migration': 'a release is planned, not a symptom',
};

/** One label matcher: `=` equals, `!=` differs, `=~` matches. */
type Matcher = [label: string, op: '=' | '!=' | '=~', value: string];

interface RuleContext {
  spec: TargetSpec;
  m: MetricNames;
  /** `family{<the target's selector>, …matchers}`. */
  sel: (family: string, ...matchers: Matcher[]) => string;
}

interface RuleTemplate {
  alert: string;
  runbook: string;
  /** How long the expression must hold before the alert fires (none: at once). */
  for?: string;
  severity: 'page' | 'ticket';
  summary: string | ((spec: TargetSpec) => string);
  /** The expression for this target; undefined when the target lacks what the runbook needs. */
  expr(c: RuleContext): string | undefined;
}

const templates: RuleTemplate[] = [
  {
    alert: 'GestiqAppDown',
    runbook: 'connection-refused',
    for: '2m',
    severity: 'page',
    summary: 'The API does not answer its scrape: connection refused or down.',
    expr: ({ spec, sel }) => spec.app && `${sel('up', ['job', '=', spec.alerts?.jobs.app ?? 'gestiq-api'])} == 0`,
  },
  {
    alert: 'GestiqNotReady',
    runbook: 'connection-refused',
    for: '3m',
    severity: 'page',
    summary: '/ready fails from the blackbox probe.',
    expr: ({ spec, sel }) =>
      spec.app && `${sel('probe_success', ['job', '=', spec.alerts?.jobs.ready ?? 'gestiq-ready'])} == 0`,
  },
  {
    alert: 'GestiqAuthFailuresHigh',
    runbook: 'login-errors',
    for: '5m',
    severity: 'page',
    summary: (spec) =>
      `More than ${Number(((spec.login?.authFailures.threshold ?? 0) * 100).toFixed(2))}% of requests are refused with 401/403 over 5 minutes: logins or cookies are broken.`,
    expr: ({ spec, sel }) => {
      if (!spec.login) return undefined;
      const family = requestsFamily(spec);
      return `sum(rate(${sel(family, ['status', '=~', '401|403'])}[5m])) / sum(rate(${sel(family)}[5m])) > ${spec.login.authFailures.threshold}`;
    },
  },
  {
    alert: 'GestiqEinvoiceFailures',
    runbook: 'einvoicing-failed',
    for: '5m',
    severity: 'page',
    summary: 'E-invoice emissions failed in the last 15 minutes.',
    expr: ({ spec, m, sel }) => spec.einvoicing && `increase(${sel(m['einvoice-failures'])}[15m]) > 0`,
  },
  {
    alert: 'GestiqPaymentErrors',
    runbook: 'payments-failed',
    for: '10m',
    severity: 'page',
    summary: 'More than 10% of payment attempts fail for a provider.',
    expr: ({ spec, m, sel }) =>
      spec.payments &&
      `sum by (provider) (rate(${sel(m['payment-errors'])}[10m])) / sum by (provider) (rate(${sel(m['payment-attempts'])}[10m])) > 0.1`,
  },
  {
    alert: 'GestiqMetricsMissing',
    runbook: 'observability-check',
    for: '15m',
    severity: 'ticket',
    summary: 'A key metric is no longer exposed: the alerts on it cannot fire.',
    // The key metrics observability-check looks for; a histogram is present when its _count is.
    expr: ({ spec, m, sel }) =>
      spec.app &&
      (Object.keys(KEY_METRICS) as MetricKey[])
        .map((k) => `absent(${sel(k === 'einvoice-latency' ? `${m[k]}_count` : m[k])})`)
        .join(' or '),
  },
  {
    alert: 'GestiqImportsStuck',
    runbook: 'stuck-imports',
    for: '5m',
    severity: 'page',
    summary: (spec) => `Import items have waited ${spec.imports?.stuckAfter ?? ''} without the backlog going down.`,
    expr: ({ spec, m, sel }) => {
      if (!spec.imports) return undefined;
      const waiting = sel(m['imports-items'], ['status', '=~', spec.imports.waiting.map(escapeRegex).join('|')]);
      const window = spec.imports.stuckAfter.replace(/\s+/g, '');
      return `min_over_time(${waiting}[${window}]) > 0 and deriv(${waiting}[${window}]) >= 0`;
    },
  },
  {
    alert: 'GestiqDatabaseDown',
    runbook: 'db-access',
    for: '1m',
    severity: 'page',
    summary: 'PostgreSQL does not answer the exporter.',
    expr: ({ spec, sel }) => spec.postgres && `${sel('pg_up')} == 0`,
  },
  {
    alert: 'GestiqMigrationNotAtHead',
    runbook: 'migration-failed',
    for: '10m',
    severity: 'page',
    summary:
      "The database's alembic revision has not been the code's head for 10 minutes: a migration failed or did not run.",
    expr: ({ spec, m, sel }) => spec.postgres && spec.alembic && `${sel(m['migration-at-head'])} == 0`,
  },
  {
    alert: 'GestiqSchemaDrift',
    runbook: 'schema-drift',
    severity: 'page',
    summary:
      'The app hit a column or table its models have and the database lacks (ProgrammingError): the schema drifted.',
    expr: ({ spec, m, sel }) => spec.postgres && spec.alembic && `increase(${sel(m['schema-errors'])}[10m]) > 0`,
  },
  {
    alert: 'GestiqFileMissing',
    runbook: 'missing-container-file',
    severity: 'page',
    summary: 'The app raised FileNotFoundError in the last 10 minutes: a file it needs is missing where it runs.',
    expr: ({ spec, m, sel }) => spec.app?.files && `increase(${sel(m['missing-files'])}[10m]) > 0`,
  },
  {
    alert: 'GestiqPwaStale',
    runbook: 'pwa-stale-cache',
    for: '15m',
    severity: 'ticket',
    summary: (spec) =>
      `The PWA serves a build other than ${spec.pwa?.expectedVersion ?? ''} (pwa.expectedVersion): users see an old build.`,
    expr: ({ spec, m, sel }) =>
      spec.pwa?.expectedVersion !== undefined
        ? sel(m['pwa-build'], ['version', '!=', spec.pwa.expectedVersion])
        : undefined,
  },
];

export interface AlertRule {
  alert: string;
  runbook: string;
  target: string;
  expr: string;
  for?: string;
  severity: 'page' | 'ticket';
  summary: string;
}

export interface GeneratedRules {
  rules: AlertRule[];
  /** Targets that got no rule: they declare nothing a rule's runbook needs. */
  withoutRules: string[];
  /** What an operator should fix, e.g. two targets whose rules would select the same series. */
  warnings: string[];
}

/** The rules for every target of the registry (or only `only`). */
export function generateRules(targets: TargetRegistry, only?: string): GeneratedRules {
  const names = only === undefined ? targets.names() : [only];
  const rules: AlertRule[] = [];
  const withoutRules: string[] = [];
  const bySelector = new Map<string, string[]>();
  for (const target of names) {
    const spec = targets.spec(target);
    const selector = Object.entries(spec.alerts?.selector ?? {}).map(([k, v]): Matcher => [k, '=', v]);
    const c: RuleContext = {
      spec,
      m: metricNamesOf(spec),
      sel: (family, ...more) => selectorOf(family, [...selector, ...more]),
    };
    const own = templates.flatMap((t) => {
      const expr = t.expr(c);
      return expr
        ? [
            {
              alert: t.alert,
              runbook: t.runbook,
              target,
              expr,
              ...(t.for ? { for: t.for } : {}),
              severity: t.severity,
              summary: typeof t.summary === 'string' ? t.summary : t.summary(spec),
            },
          ]
        : [];
    });
    if (own.length === 0) withoutRules.push(target);
    else bySelector.set(JSON.stringify(selector), [...(bySelector.get(JSON.stringify(selector)) ?? []), target]);
    rules.push(...own);
  }
  const warnings = [...bySelector.values()]
    .filter((t) => t.length > 1)
    .map(
      (t) =>
        `targets ${t.join(', ')} have the same alerts.selector, so their rules select the same series and fire for each of them: give each target an alerts.selector (e.g. { env: prod }).`,
    );
  return { rules, withoutRules, warnings };
}

/** The labels a rule puts on its alerts: what `routeAlert` reads. */
export function ruleLabels(r: AlertRule): Record<string, string> {
  return { severity: r.severity, runbook: r.runbook, runbook_target: r.target };
}

/** The Prometheus rules file: one group per target, each rule labelled with the runbook and target it starts. */
export function rulesFile(g: GeneratedRules): string {
  const groups = [...new Set(g.rules.map((r) => r.target))].map((target) => ({
    name: `durable-runbooks-${target}`,
    rules: g.rules
      .filter((r) => r.target === target)
      .map((r) => ({
        alert: r.alert,
        expr: r.expr,
        ...(r.for ? { for: r.for } : {}),
        labels: ruleLabels(r),
        annotations: { summary: r.summary, runbook: `runbook print ${r.runbook} --target ${r.target}` },
      })),
  }));
  const header = [
    '# Generated by `runbook alerts rules` from the targets file: each alert starts its runbook on its target.',
    `# Started by hand (no metric shows their symptom): ${Object.keys(startedByHand).join(', ')}.`,
    ...(g.withoutRules.length
      ? [`# No rules for ${g.withoutRules.join(', ')}: they declare nothing an alerting runbook needs.`]
      : []),
    ...g.warnings.map((w) => `# Warning: ${w}`),
  ];
  return `${header.join('\n')}\n${stringify({ groups }, { lineWidth: 0 })}`;
}

function selectorOf(family: string, matchers: Matcher[]): string {
  if (matchers.length === 0) return family;
  return `${family}{${matchers.map(([k, op, v]) => `${k}${op}${JSON.stringify(v)}`).join(', ')}}`;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface AlertmanagerAlert {
  status?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  fingerprint?: string;
}

export type Routed =
  | { ok: true; runbook: string; target: string; alert: AlertInput }
  | { ok: false; alertname: string; labels: Record<string, string>; reason: string };

/**
 * Which runbook and target an alert is for: the label `runbook` (our rules set it) or a rule's
 * alertname; the label `runbook_target` (our rules set it), or the one target whose `alerts.labels` all match.
 */
export function routeAlert(a: AlertmanagerAlert, targets: TargetRegistry): Routed {
  const labels = a.labels ?? {};
  const alertname = labels.alertname ?? '(no alertname)';
  const refuse = (reason: string): Routed => ({ ok: false, alertname, labels, reason });
  const runbook = labels.runbook ?? templates.find((r) => r.alert === alertname)?.runbook;
  if (!runbook)
    return refuse(
      `no runbook for alert "${alertname}": give it the label runbook=<name>, or use one of our rules (${templates.map((r) => r.alert).join(', ')})`,
    );
  if (!catalogue.some((d) => d.name === runbook))
    return refuse(`label runbook="${runbook}" names no runbook (known: ${catalogue.map((d) => d.name).join(', ')})`);
  let target = labels.runbook_target;
  if (target !== undefined) {
    if (!targets.names().includes(target))
      return refuse(
        `label runbook_target="${target}" is not in ${targets.file} (known: ${targets.names().join(', ')})`,
      );
  } else {
    const matching = targets.names().filter((n) => {
      const want = targets.spec(n).alerts?.labels;
      return want !== undefined && Object.entries(want).every(([k, v]) => labels[k] === v);
    });
    if (matching.length !== 1) {
      return refuse(
        matching.length === 0
          ? `no target for these labels: set the label runbook_target, or alerts.labels on a target in ${targets.file}`
          : `the labels match several targets (${matching.join(', ')}): make their alerts.labels distinct or set runbook_target`,
      );
    }
    target = matching[0]!;
  }
  const status = a.status === 'resolved' ? 'resolved' : 'firing';
  return {
    ok: true,
    runbook,
    target,
    alert: {
      alertname,
      status,
      labels,
      summary: a.annotations?.summary,
      startsAt: a.startsAt,
      fingerprint: a.fingerprint,
    },
  };
}

/** Every runbook is either started by one of the rules or by hand (a test holds this). */
export function alertingRunbooks(): string[] {
  return [...new Set(templates.map((t) => t.runbook))];
}
