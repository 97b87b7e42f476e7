import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dashboardMetrics, grafanaDashboard } from '../../src/metrics/dashboard.js';
import { resultMetrics } from '../../src/metrics/activity.js';
import { workflowMetrics } from '../../src/engine/metrics.js';
import { repoRoot, tmpDir } from '../support/harness.js';

interface Target {
  expr: string;
}
const exprs = () =>
  (grafanaDashboard().panels as Array<{ targets?: Target[] }>).flatMap((p) => p.targets ?? []).map((t) => t.expr);

describe('the Grafana dashboard (docs/grafana-dashboard.json)', () => {
  it('is the one scripts/dashboard.ts writes', () => {
    expect(JSON.parse(readFileSync(path.join(repoRoot, 'docs/grafana-dashboard.json'), 'utf8'))).toEqual(
      grafanaDashboard(),
    );
  });

  it('has queries Prometheus parses (promtool check rules, $__rate_interval as 5m)', () => {
    const file = path.join(tmpDir('dash-'), 'rules.yml');
    const rules = exprs().map(
      (e, i) =>
        `      - record: dashboard:q${i}\n        expr: ${JSON.stringify(e.replaceAll('$__rate_interval', '5m'))}`,
    );
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it("reads only metrics we export: ours by the names the code declares (the SDK's are checked on a real scrape in metrics.test)", () => {
    const declared = new Set([
      ...Object.values(workflowMetrics),
      'runbook_activity_seconds',
      'runbook_activity_retries',
      'runbook_api_requests',
      'runbook_api_request_seconds',
      ...['pgDumpBackup', 'pgRestoreInto', 'acquireTargetLock', 'releaseTargetLock'].flatMap((a) =>
        resultMetrics(a, ['t'], { pgDumpMs: 1, durationMs: 1, totalBytes: 1, bytes: 1, released: true }).map(
          (m) => m.name,
        ),
      ),
    ]);
    const base = (n: string) => n.replace(/_(bucket|count|sum|total)$/, '');
    expect(
      dashboardMetrics()
        .filter((n) => n.startsWith('runbook_'))
        .filter((n) => !declared.has(base(n))),
    ).toEqual([]);
  });
});
