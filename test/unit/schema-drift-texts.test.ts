import { describe, expect, it } from 'vitest';
import { planDigest } from '../../src/contract/signing.js';
import { applyRevisionGate, retryPlan, type ApplyRevisionFacts } from '../../src/runbooks/schema-drift/texts.js';

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
