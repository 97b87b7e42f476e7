import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import {
  alertingRunbooks,
  generateRules,
  routeAlert,
  ruleLabels,
  rulesFile,
  startedByHand,
  type AlertRule,
} from '../../src/alerts.js';
import { catalogue } from '../../src/runbooks/catalogue.js';
import { TargetRegistry } from '../../src/targets.js';
import { runbookCli } from '../support/cli.js';
import { tmpDir } from '../support/harness.js';

// Alert rules generated from a targets file: every rule checked by promtool (Debian's prometheus
// package, installed by scripts/ensure-services.sh --tests), two of them proved by `promtool test
// rules`, and every rule's labels routed back to its runbook and target by the alert intake's mapping.

const SHIPPED = 'targets.local.yaml';

/** A target with every section an alerting runbook needs, its own metric names and series selector. */
const shopYaml = `targets:
  shop:
    postgres: { host: 127.0.0.1, database: shop, user: ops }
    alembic: { dir: . }
    app:
      url: "http://127.0.0.1:8000"
      metricNames: { http-requests: shop_requests_total, imports-items: shop_import_items, payment-errors: shop_payment_errors_total, migration-at-head: shop_schema_at_head, pwa-build: shop_pwa_build_info }
      files: [{ path: templates/a.html, source: ./a.html }]
      container: { name: shop-app }
    pwa: { expectedVersion: "2026.12.01" }
    login: { authFailures: { threshold: 0.1 } }
    einvoicing: {}
    payments: { providers: { stripe: { scheme: stripe, webhookPath: /wh, secretEnv: STRIPE_WH } } }
    imports: { waiting: [pending, queued] }
    alerts: { selector: { env: prod }, jobs: { app: shop-api } }
  other:
    app: { url: "http://127.0.0.1:9000" }
    alerts: { selector: { env: staging } }
`;

function targetsFile(yaml: string): string {
  const file = path.join(tmpDir(), 'targets.yaml');
  writeFileSync(file, yaml);
  return file;
}

function promtool(...args: string[]) {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, error: r.error };
}

describe('alert rules', () => {
  it('every runbook is started by a rule or listed as started by hand, never both', () => {
    const byRule = alertingRunbooks();
    const byHand = Object.keys(startedByHand);
    expect([...byRule, ...byHand].sort()).toEqual(catalogue.map((d) => d.name).sort());
    expect(byRule.filter((r) => byHand.includes(r))).toEqual([]);
  });

  it('a target gets a rule for each runbook whose sections it declares, over its own metric names and series', () => {
    const { rules } = generateRules(TargetRegistry.load(targetsFile(shopYaml), {}), 'shop');
    expect(rules.map((r) => r.runbook).sort()).toEqual([
      'connection-refused',
      'connection-refused',
      'db-access',
      'einvoicing-failed',
      'login-errors',
      'migration-failed',
      'missing-container-file',
      'observability-check',
      'payments-failed',
      'pwa-stale-cache',
      'schema-drift',
      'stuck-imports',
    ]);
    const expr = (alert: string) => rules.find((r) => r.alert === alert)!.expr;
    expect(expr('GestiqAppDown')).toBe('up{env="prod", job="shop-api"} == 0');
    expect(expr('GestiqAuthFailuresHigh')).toBe(
      'sum(rate(shop_requests_total{env="prod", status=~"401|403"}[5m])) / sum(rate(shop_requests_total{env="prod"}[5m])) > 0.1',
    );
    expect(expr('GestiqImportsStuck')).toContain('shop_import_items{env="prod", status=~"pending|queued"}');
    expect(expr('GestiqPaymentErrors')).toContain('shop_payment_errors_total{env="prod"}');
    expect(expr('GestiqPaymentErrors')).toContain('gestiq_payment_attempts_total{env="prod"}');
    expect(expr('GestiqMigrationNotAtHead')).toBe('shop_schema_at_head{env="prod"} == 0');
    expect(expr('GestiqPwaStale')).toBe('shop_pwa_build_info{env="prod", version!="2026.12.01"}');
    expect(expr('GestiqMetricsMissing')).toContain('absent(gestiq_einvoice_latency_seconds_count{env="prod"})');
    expect(rules.map((r) => r.expr).join('\n')).not.toMatch(
      /gestiq_(http_requests|import_items|payment_errors|alembic_at_head|pwa_build)/,
    );
  });

  it("the shipped targets file's rules and a custom target's pass promtool check rules", () => {
    const dir = tmpDir();
    const files = [SHIPPED, targetsFile(shopYaml)].map((targets, i) => {
      const generated = generateRules(TargetRegistry.load(targets, {}));
      expect(generated.rules.length).toBeGreaterThan(0);
      const file = path.join(dir, `rules-${i}.yml`);
      writeFileSync(file, rulesFile(generated));
      return { file, count: generated.rules.length };
    });
    for (const { file, count } of files) {
      const r = promtool('check', 'rules', file);
      expect(
        r.error,
        "promtool is missing: sudo bash scripts/ensure-services.sh --tests installs Debian's prometheus",
      ).toBeUndefined();
      expect(r.output).toContain(`SUCCESS: ${count} rules found`);
      expect(r.status).toBe(0);
    }
  });

  it('promtool test rules: the rules fire on the series that show the symptom, labelled for the intake, and stay quiet otherwise', () => {
    const dir = tmpDir();
    const generated = generateRules(TargetRegistry.load(targetsFile(shopYaml), {}), 'shop');
    writeFileSync(path.join(dir, 'rules.yml'), rulesFile(generated));
    const rule = (alert: string): AlertRule => generated.rules.find((r) => r.alert === alert)!;
    const annotations = (r: AlertRule) => ({
      summary: r.summary,
      runbook: `runbook print ${r.runbook} --target ${r.target}`,
    });
    const tests = {
      rule_files: ['rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: 'up{job="shop-api", env="prod", instance="api:8000"}', values: '1 1 0x10' },
            // Another target's app, down too: shop's rules do not select its series (alerts.selector).
            { series: 'up{job="shop-api", env="staging", instance="api:8000"}', values: '0x12' },
            { series: 'shop_import_items{env="prod", status="pending"}', values: '100-5x10 50x30' },
            { series: 'shop_import_items{env="prod", status="done"}', values: '0+5x30' },
            { series: 'shop_pwa_build_info{env="prod", version="2026.11.25"}', values: '1x30' },
            { series: 'shop_pwa_build_info{env="prod", version="2026.12.01", instance="cdn-2"}', values: '1x30' },
          ],
          alert_rule_test: [
            // Down from minute 2, fires after its 2m `for`: at 5m, not at 3m.
            { eval_time: '3m', alertname: 'GestiqAppDown', exp_alerts: [] },
            {
              eval_time: '5m',
              alertname: 'GestiqAppDown',
              exp_alerts: [
                {
                  exp_labels: {
                    ...ruleLabels(rule('GestiqAppDown')),
                    job: 'shop-api',
                    env: 'prod',
                    instance: 'api:8000',
                  },
                  exp_annotations: annotations(rule('GestiqAppDown')),
                },
              ],
            },
            // The backlog goes down for 10 minutes, then 50 items stop moving: stuck once a whole
            // imports.stuckAfter (15m) window is flat, at 25m, and firing after the 5m `for`.
            { eval_time: '20m', alertname: 'GestiqImportsStuck', exp_alerts: [] },
            {
              eval_time: '35m',
              alertname: 'GestiqImportsStuck',
              exp_alerts: [
                {
                  exp_labels: { ...ruleLabels(rule('GestiqImportsStuck')), env: 'prod', status: 'pending' },
                  exp_annotations: annotations(rule('GestiqImportsStuck')),
                },
              ],
            },
            // Only the build that is not pwa.expectedVersion.
            {
              eval_time: '20m',
              alertname: 'GestiqPwaStale',
              exp_alerts: [
                {
                  exp_labels: { ...ruleLabels(rule('GestiqPwaStale')), env: 'prod', version: '2026.11.25' },
                  exp_annotations: annotations(rule('GestiqPwaStale')),
                },
              ],
            },
          ],
        },
      ],
    };
    writeFileSync(path.join(dir, 'tests.yml'), stringify(tests));
    const r = promtool('test', 'rules', path.join(dir, 'tests.yml'));
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it("every generated rule's alert, posted as Alertmanager would, starts its runbook on its target", () => {
    for (const targets of [SHIPPED, targetsFile(shopYaml)]) {
      const registry = TargetRegistry.load(targets, {});
      const { rules } = generateRules(registry);
      // The labels as Alertmanager sends them: read back from the printed file, plus the series' own.
      const printed = (
        parseYaml(rulesFile({ rules, withoutRules: [], warnings: [] })) as {
          groups: Array<{ rules: Array<{ alert: string; labels: Record<string, string> }> }>;
        }
      ).groups.flatMap((g) => g.rules);
      expect(printed).toHaveLength(rules.length);
      printed.forEach((p, i) => {
        const routed = routeAlert(
          { status: 'firing', labels: { alertname: p.alert, ...p.labels, instance: 'api:8000', env: 'prod' } },
          registry,
        );
        expect(routed).toMatchObject({ ok: true, runbook: rules[i]!.runbook, target: rules[i]!.target });
      });
    }
  });

  it('warns when two targets would select the same series', () => {
    const yaml =
      'targets:\n  a:\n    app: { url: "http://127.0.0.1:8000" }\n  b:\n    app: { url: "http://127.0.0.1:9000" }\n  c:\n    redis: { url: "redis://127.0.0.1:6379/0" }\n';
    const generated = generateRules(TargetRegistry.load(targetsFile(yaml), {}));
    expect(generated.warnings).toEqual([
      'targets a, b have the same alerts.selector, so their rules select the same series and fire for each of them: give each target an alerts.selector (e.g. { env: prod }).',
    ]);
    expect(generated.withoutRules).toEqual(['c']);
    expect(rulesFile(generated)).toContain('# Warning: targets a, b have the same alerts.selector');
  });

  it('runbook alerts rules prints the rules file of the targets file', async () => {
    const r = await runbookCli(['alerts', 'rules', '--target', 'shop'], { RUNBOOK_TARGETS: targetsFile(shopYaml) });
    expect(r.code).toBe(0);
    const file = parseYaml(r.stdout) as {
      groups: Array<{ name: string; rules: Array<{ labels: Record<string, string> }> }>;
    };
    expect(file.groups.map((g) => g.name)).toEqual(['durable-runbooks-shop']);
    expect(file.groups[0]!.rules.every((r) => r.labels.runbook_target === 'shop')).toBe(true);
  });
});

describe('app.metricNames in the targets file', () => {
  it('refuses an unknown key and a name Prometheus cannot have, naming the key', () => {
    const typo = targetsFile(
      'targets:\n  web:\n    app: { url: "http://a", metricNames: { auth-failure: x_total } }\n',
    );
    expect(() => TargetRegistry.load(typo, {})).toThrow(
      'target "web", field app.metricNames: unknown key(s) auth-failure (known: auth-failures, imports-items,',
    );
    const bad = targetsFile(
      'targets:\n  web:\n    app: { url: "http://a", metricNames: { http-requests: "shop-requests" } }\n',
    );
    expect(() => TargetRegistry.load(bad, {})).toThrow(
      'target "web", field app.metricNames.http-requests: must be a Prometheus metric name',
    );
  });

  it("defaults every key to the seeds' gestiq_* name, so existing targets keep working", () => {
    const ok = targetsFile(
      'targets:\n  web:\n    app: { url: "http://a", metricNames: { auth-failures: web_auth_failures_total } }\n',
    );
    const names = TargetRegistry.load(ok, {}).spec('web').app!.metricNames;
    expect(names['auth-failures']).toBe('web_auth_failures_total');
    expect(names['http-requests']).toBe('gestiq_http_requests_total');
    expect(names['imports-items']).toBe('gestiq_import_items');
  });
});
