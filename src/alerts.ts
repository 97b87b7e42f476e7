import { stringify } from 'yaml';
import { catalogue } from './runbooks.js';
import type { TargetRegistry } from './targets.js';
import type { AlertInput } from './workflows/messages.js';

/**
 * Alerts that start runbooks (the seeds' open item: "add the expected metrics/alerts for each
 * incident"). Each rule names its runbook; `runbook alerts rules` prints them as a Prometheus rules
 * file, and `POST /alerts/alertmanager` routes Alertmanager's webhook to (runbook, target).
 * Pure, apart from reading the target registry it is given.
 */

export interface AlertRule {
  alert: string;
  runbook: string;
  expr: string;
  for: string;
  severity: 'page' | 'ticket';
  summary: string;
}

export const alertRules: AlertRule[] = [
  { alert: 'GestiqAppDown', runbook: 'connection-refused', expr: 'up{job="gestiq-api"} == 0', for: '2m', severity: 'page', summary: 'The API does not answer its scrape: connection refused or down.' },
  { alert: 'GestiqNotReady', runbook: 'connection-refused', expr: 'probe_success{job="gestiq-ready"} == 0', for: '3m', severity: 'page', summary: '/ready fails from the blackbox probe.' },
  { alert: 'GestiqAuthFailuresHigh', runbook: 'login-errors', expr: 'sum(rate(gestiq_http_requests_total{status=~"401|403"}[5m])) / sum(rate(gestiq_http_requests_total[5m])) > 0.05', for: '5m', severity: 'page', summary: 'More than 5% of requests are refused with 401/403 over 5 minutes: logins or cookies are broken.' },
  { alert: 'GestiqEinvoiceFailures', runbook: 'einvoicing-failed', expr: 'increase(gestiq_einvoice_failures_total[15m]) > 0', for: '5m', severity: 'page', summary: 'E-invoice emissions failed in the last 15 minutes.' },
  { alert: 'GestiqPaymentErrors', runbook: 'payments-failed', expr: 'sum by (provider) (rate(gestiq_payment_errors_total[10m])) / sum by (provider) (rate(gestiq_payment_attempts_total[10m])) > 0.1', for: '10m', severity: 'page', summary: 'More than 10% of payment attempts fail for a provider.' },
  { alert: 'GestiqMetricsMissing', runbook: 'observability-check', expr: 'absent(gestiq_auth_failures_total) or absent(gestiq_import_items) or absent(gestiq_payment_attempts_total) or absent(gestiq_einvoice_failures_total)', for: '15m', severity: 'ticket', summary: 'A key metric is no longer exposed: the alerts on it cannot fire.' },
  { alert: 'GestiqImportsStuck', runbook: 'stuck-imports', expr: 'min_over_time(gestiq_import_items{status="pending"}[15m]) > 0 and deriv(gestiq_import_items{status="pending"}[15m]) >= 0', for: '5m', severity: 'page', summary: 'Import items have waited 15 minutes without the backlog going down.' },
  { alert: 'GestiqDatabaseDown', runbook: 'db-access', expr: 'pg_up == 0', for: '1m', severity: 'page', summary: 'PostgreSQL does not answer the exporter.' },
];

/** The Prometheus rules file: each rule carries the label `runbook` the webhook routes on. */
export function rulesFile(): string {
  return stringify({
    groups: [{
      name: 'durable-runbooks',
      rules: alertRules.map((r) => ({
        alert: r.alert, expr: r.expr, for: r.for,
        labels: { severity: r.severity, runbook: r.runbook },
        annotations: { summary: r.summary, runbook: `runbook print ${r.runbook} --target <target>` },
      })),
    }],
  });
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
 * alertname; the label `runbook_target`, or the one target whose `alerts.labels` all match.
 */
export function routeAlert(a: AlertmanagerAlert, targets: TargetRegistry): Routed {
  const labels = a.labels ?? {};
  const alertname = labels.alertname ?? '(no alertname)';
  const refuse = (reason: string): Routed => ({ ok: false, alertname, labels, reason });
  const runbook = labels.runbook ?? alertRules.find((r) => r.alert === alertname)?.runbook;
  if (!runbook) return refuse(`no runbook for alert "${alertname}": give it the label runbook=<name>, or use one of our rules (${alertRules.map((r) => r.alert).join(', ')})`);
  if (!catalogue.some((d) => d.name === runbook)) return refuse(`label runbook="${runbook}" names no runbook (known: ${catalogue.map((d) => d.name).join(', ')})`);
  let target = labels.runbook_target;
  if (target !== undefined) {
    if (!targets.names().includes(target)) return refuse(`label runbook_target="${target}" is not in ${targets.file} (known: ${targets.names().join(', ')})`);
  } else {
    const matching = targets.names().filter((n) => {
      const want = targets.spec(n).alerts?.labels;
      return want !== undefined && Object.entries(want).every(([k, v]) => labels[k] === v);
    });
    if (matching.length !== 1) {
      return refuse(matching.length === 0
        ? `no target for these labels: set the label runbook_target, or alerts.labels on a target in ${targets.file}`
        : `the labels match several targets (${matching.join(', ')}): make their alerts.labels distinct or set runbook_target`);
    }
    target = matching[0]!;
  }
  const status = a.status === 'resolved' ? 'resolved' : 'firing';
  return { ok: true, runbook, target, alert: { alertname, status, labels, summary: a.annotations?.summary, startsAt: a.startsAt, fingerprint: a.fingerprint } };
}
