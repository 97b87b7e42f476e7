import { describe, expect, it } from 'vitest';
import { planDigest } from '../../src/contract/signing.js';
import {
  applyRevisionGate,
  noDriftSummary,
  refusedDrops,
  repairedSummary,
  retryPlan,
  type ApplyRevisionFacts,
} from '../../src/runbooks/schema-drift/texts.js';

describe("schema-drift's apply-revision gate", () => {
  const facts = (retrySql: string): ApplyRevisionFacts => ({
    revId: 'drift_abc',
    live: 'gestiq',
    generated: {
      ops: "op.add_column('tenants', sa.Column('name_display', sa.Text(), nullable=True))",
      refused: [],
      revId: 'drift_abc',
      artifact: '/tmp/a.py',
    },
    rehearsed: {
      plan: 'upgrade to drift_abc',
      ran: true,
      clean: true,
      revisionAfter: ['drift_abc'],
      cleanup: [],
      notDroppable: [],
      rowsAfter: {},
      durationMs: 10,
    },
    rehearsal: { driftAfter: '' } as ApplyRevisionFacts['rehearsal'],
    undoPoint: {
      snapshot: { name: 'gestiq_snapshot_x' },
      dump: { path: '/b', manifestSha256: 'ff' },
    } as ApplyRevisionFacts['undoPoint'],
    retry: retryPlan({ retrySql }, 'gestiq_app'),
  });

  it('shows the statement retried after the change, so its plan digest changes with the statement', () => {
    const a = applyRevisionGate(facts('select name_display from tenants'));
    const b = applyRevisionGate(facts('select name_display from tenants where id = 1'));
    expect(a.prompt).toContain(
      "Then the failing operation is retried: one SQL statement as the app's role gestiq_app (checked: no superuser), in a transaction that is always rolled back (statement_timeout 30s): select name_display from tenants",
    );
    expect(a.evidence.retry).toEqual({ sql: 'select name_display from tenants', role: 'gestiq_app', http: undefined });
    expect(planDigest('apply-revision', a.prompt, a.evidence)).not.toBe(
      planDigest('apply-revision', b.prompt, b.evidence),
    );
    // Evidence alone carries it too: a prompt shortened some day would not drop it from the digest.
    expect(planDigest('apply-revision', a.prompt, a.evidence)).not.toBe(
      planDigest('apply-revision', a.prompt, b.evidence),
    );
  });

  it('says what runs when both retrySql and retryHttp are given, and when neither is', () => {
    expect(retryPlan({ retrySql: 'select 1', retryHttp: 'http://x/ready' }).how).toContain(
      '(retryHttp http://x/ready is not run: retrySql comes first)',
    );
    expect(retryPlan({ retryHttp: 'http://x/ready' })).toEqual({ http: 'http://x/ready', how: 'GET http://x/ready' });
    expect(retryPlan({}).how).toBe('no failing operation was given (retrySql or retryHttp)');
  });
});

describe("schema-drift's summaries", () => {
  const typesNote =
    'alembic 1.8 does not compare column types by default (compare_type is off): a column whose type changed is not reported as drift.';

  it('names the drops it refused only when autogenerate proposed some', () => {
    expect(refusedDrops([])).toBeUndefined();
    expect(noDriftSummary('gestiq', refusedDrops([]))).toEqual([
      "No drift: gestiq matches the app's models.",
      typesNote,
    ]);
    expect(noDriftSummary('gestiq', refusedDrops(['drop_table(legacy)', 'drop_index(ix_old)']))).toEqual([
      "No drift: gestiq matches the app's models.",
      'Refused (never generated): 2 drop(s) autogenerate proposed for objects outside the models: drop_table(legacy); drop_index(ix_old).',
      typesNote,
    ]);
  });

  it('after the repair, says the drift left, the operation still failing and the commit not confirmed', () => {
    const summary = repairedSummary({
      live: 'gestiq',
      revId: 'drift_abc',
      generated: {
        ops: "op.add_column('tenants',\n    sa.Column('x'))",
        refused: [],
        revId: 'drift_abc',
        artifact: '/a.py',
      },
      applied: { revisionAfter: ['drift_abc'] },
      driftAfter: { ops: 'op.drop_index(ix)', refused: [], revId: 'drift_abc_verify' },
      retried: { ok: false, error: 'column x does not exist', how: 'GET http://x/ready' },
      commit: { missing: 'no commit id was given after three requests' },
    });
    expect(summary).toEqual([
      "Drift repaired on gestiq: applied drift_abc (drift_abc): op.add_column('tenants', sa.Column('x'))",
      'Drift remains: op.drop_index(ix)',
      'Retried the failing operation (GET http://x/ready): it still fails: column x does not exist.',
      'The migration file is NOT confirmed committed (no commit id was given after three requests): commit /a.py before the next deploy.',
      typesNote,
    ]);
  });

  it('after a clean repair, says no drift remains, the operation works and who confirmed the commit', () => {
    const summary = repairedSummary({
      live: 'gestiq',
      revId: 'drift_abc',
      generated: { ops: 'op.x()', refused: [], revId: 'drift_abc' },
      applied: { revisionAfter: ['drift_abc'] },
      driftAfter: { ops: '', refused: [], revId: 'drift_abc_verify' },
      retried: { ok: true, how: 'GET http://x/ready' },
      commit: { id: 'abc1234', by: 'ana' },
    });
    expect(summary.slice(1, 4)).toEqual([
      'No drift remains.',
      'Retried the failing operation (GET http://x/ready): it works now.',
      'Migration file committed as abc1234 (confirmed by ana).',
    ]);
  });
});
