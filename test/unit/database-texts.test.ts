import { describe, expect, it } from 'vitest';
import type { SchemaDiff, SmokeResult } from '../../src/activities/index.js';
import type { Rehearsal, UndoPoint } from '../../src/runbooks/shared/database-safety.js';
import { describeRehearsal } from '../../src/runbooks/shared/database-texts.js';
import {
  dryRunSummary as migrationDryRun,
  downgradeGate,
  leftoverLine,
  notRepairedWhy,
  repairSummary,
  rootCauseRefusal,
} from '../../src/runbooks/migration-failed/texts.js';
import {
  dryRunSummary as releaseDryRun,
  handedOverSummary,
  releaseFailure,
  upgradedSummary,
} from '../../src/runbooks/release-migration/texts.js';

const rehearsal = (r: Partial<Rehearsal> = {}): Rehearsal => ({
  plan: 'downgrade to 0004_payments',
  ran: true,
  clean: true,
  revisionAfter: ['0004_payments'],
  cleanup: [],
  notDroppable: [],
  rowsAfter: { 'public.invoices': 12, 'public.alembic_version': 1, 'public.tenants': 2 },
  durationMs: 840,
  ...r,
});
const undoPoint = {
  snapshot: { name: 'gestiq_undo_a1' },
  dump: { path: '/backups/gestiq.dump', manifestSha256: 'ab12' },
} as UndoPoint;
const smoke = (ok: boolean, name = 'invoices'): SmokeResult => ({ name, ok }) as SmokeResult;

describe('what a rehearsal showed, in one sentence', () => {
  it('says the rows after a clean run, without alembic_version, and the leftovers it dropped', () => {
    expect(describeRehearsal(rehearsal({ cleanup: ['DROP INDEX a', 'DROP INDEX b'] }), 'a clone')).toBe(
      'The rehearsed downgrade to 0004_payments ran on a clone in 840 ms and the result equals a fresh build of the revision after dropping 2 leftover(s); rows after: invoices 12, tenants 2.',
    );
  });

  it('says how a run that differs from a fresh build differs, and what cannot be dropped safely', () => {
    const differs = rehearsal({
      clean: false,
      diff: { extra: ['a', 'b'], missing: ['c'] } as SchemaDiff,
      notDroppable: ['TABLE x', 'COLUMN y', 'COLUMN z', 'COLUMN w'],
    });
    expect(describeRehearsal(differs, 'a clone')).toBe(
      'The rehearsed downgrade to 0004_payments ran on a clone in 840 ms but the result differs from a fresh build of the revision: 2 extra and 1 missing statement(s) (not droppable safely: TABLE x; COLUMN y; COLUMN z).',
    );
    expect(describeRehearsal(rehearsal({ ran: false }), 'a clone')).toBe(
      'The rehearsed downgrade to 0004_payments FAILED on a clone after 840 ms: no output',
    );
  });
});

describe("migration-failed's texts", () => {
  it('names the leftovers of a failed revision, or says there are none', () => {
    const same = { same: true, extra: [], missing: [] } as unknown as SchemaDiff;
    expect(leftoverLine(undefined, same)).toBe(
      'The live database matches a fresh build of its revision: no leftovers of a failed revision.',
    );
    const left = { same: false, extra: ['i1', 'i2', 'i3', 'i4'], missing: ['m'] } as unknown as SchemaDiff;
    expect(leftoverLine('0004_payments', left)).toBe(
      'The live database differs from a fresh build of its revision 0004_payments: 4 object(s) a failed revision left behind (i1; i2; i3), 1 missing.',
    );
  });

  it('in a dry run, says the downgrade it would run, or the restore it would propose', () => {
    const plan = { applied: ['0004_payments'], heads: ['0005_check'], toRevision: '0003_invoices' } as const;
    const clean = migrationDryRun({
      live: 'gestiq',
      leftoverText: 'L.',
      rehearsal: rehearsal({ cleanup: ['DROP INDEX a'] }),
      plan: { ...plan, heads: [...plan.heads], applied: [...plan.applied], toRevisionFrom: 'input' },
    });
    expect(clean[0]).toBe('Dry run: nothing was changed on gestiq.');
    expect(clean[3]).toBe(
      'Would run: freeze writes ⛔, snapshot, dump, downgrade ⛔ to 0003_invoices and drop 1 leftover(s), verify, unfreeze.',
    );
    const dirty = migrationDryRun({
      live: 'gestiq',
      leftoverText: 'L.',
      rehearsal: rehearsal({ clean: false }),
      plan: { applied: null, heads: [], toRevision: '0003_invoices', toRevisionFrom: 'input' },
    });
    expect(dirty[3]).toBe(
      'The downgrade would not repair it: the run would propose restoring (no snapshot or backup: give one with backup) ⛔.',
    );
  });

  it('asks for the downgrade with the leftovers it drops, and says why it could not repair', () => {
    const gate = downgradeGate({
      live: 'gestiq',
      found: undefined,
      toRevision: '0003_invoices',
      rehearsal: rehearsal({ cleanup: ['DROP INDEX a', 'DROP INDEX b'] }),
      undoPoint,
    });
    expect(gate.prompt).toMatch(
      /^Downgrade gestiq from no revision to 0003_invoices and drop 2 leftover\(s\) \(DROP INDEX a; DROP INDEX b\)\? The rehearsed /,
    );
    expect(gate.evidence.undoPoint).toEqual({
      snapshot: 'gestiq_undo_a1',
      dump: '/backups/gestiq.dump',
      manifestSha256: 'ab12',
    });
    expect(notRepairedWhy({ live: 'gestiq', toRevision: '0003_invoices', rehearsal: rehearsal() })).toBe(
      'After the downgrade the live database is not a clean 0003_invoices: 0 extra, 0 missing statement(s).',
    );
  });

  it('sums up a downgrade: smoke checks failed by name, no re-apply, no root cause', () => {
    expect(
      repairSummary({
        live: 'gestiq',
        undoPoint,
        downgraded: { found: '0004_payments', toRevision: '0003_invoices', cleanup: ['DROP INDEX a'] },
        smoke: [smoke(true), smoke(false, 'tenants'), smoke(false, 'payments')],
        rootCause: null,
      }),
    ).toEqual([
      'gestiq downgraded from 0004_payments to 0003_invoices, 1 leftover(s) dropped; it now equals a fresh build of 0003_invoices.',
      'Smoke checks: 1/3 passed (failed: tenants, payments).',
      "Undo point kept for the target's retention: snapshot gestiq_undo_a1, dump /backups/gestiq.dump (manifest sha256 ab12).",
      'No root-cause note was given before the deadline: add it to the incident ticket.',
    ]);
  });

  it('sums up a restore with a failed re-apply, no smoke checks and the root cause', () => {
    expect(
      repairSummary({
        live: 'gestiq',
        undoPoint,
        restored: { why: 'Why.', source: 'backup /b.dump', keptAs: 'gestiq_pre_restore_1', lost: [] },
        reapplied: { ok: false, output: 'CHECK failed', revisionAfter: null },
        smoke: [],
        rootCause: { by: 'ana', note: 'an unknown estado' },
      }),
    ).toEqual([
      'Why.',
      'gestiq restored from the backup /b.dump; the database it replaced is kept as gestiq_pre_restore_1. No row written since in a table the backup has would be lost.',
      'Re-applying FAILED (the cause is not fixed?): CHECK failed',
      'No smoke checks declared for this target.',
      "Undo point kept for the target's retention: snapshot gestiq_undo_a1, dump /backups/gestiq.dump (manifest sha256 ab12).",
      'Root cause (ana): an unknown estado',
    ]);
  });

  it('refuses a root-cause note without a person or a note, and a second one', () => {
    expect(rootCauseRefusal({ by: ' ', note: 'x' }, undefined)).toBe(
      'A root-cause note is one JSON object: {"by": "<person>", "note": "<what caused the failure>"}.',
    );
    expect(rootCauseRefusal({ by: 'ana', note: 'x' }, { by: 'luis', note: 'y' })).toBe(
      'The root cause was already recorded by luis.',
    );
    expect(rootCauseRefusal({ by: 'ana', note: 'x' }, undefined)).toBeUndefined();
  });
});

describe("release-migration's texts", () => {
  const release = { live: 'gestiq', fromRevision: null, toRevision: '0005_check' };

  it('in a dry run, names the freeze only for targets that declare one', () => {
    expect(releaseDryRun(release, rehearsal(), true)[2]).toBe(
      'Would run: freeze writes ⛔, snapshot, dump, rehearse on the snapshot, upgrade ⛔ to 0005_check, smoke checks, unfreeze.',
    );
    expect(releaseDryRun(release, rehearsal(), false)[2]).toBe(
      'Would run: snapshot, dump, rehearse on the snapshot, upgrade ⛔ to 0005_check, smoke checks.',
    );
  });

  it('says how the release failed: the failing smoke checks, or where the upgrade stopped', () => {
    const failed = { name: 'invoices', ok: false, got: '0', expected: '>= 1' } as SmokeResult;
    expect(releaseFailure({ ok: true, output: '', revisionAfter: ['0005_check'] }, [smoke(true), failed])).toBe(
      'smoke checks failed: invoices (got 0, expected >= 1)',
    );
    expect(releaseFailure({ ok: false, output: 'boom', revisionAfter: null }, [])).toBe(
      'the upgrade failed at no revision: boom',
    );
  });

  it('sums up an upgrade with no smoke checks declared, and a hand-over with writes frozen', () => {
    const upgraded = upgradedSummary(release, {
      upgrade: { revisionAfter: ['0005_check'], durationMs: 120 },
      rehearsal: rehearsal(),
      smoke: [],
      undoPoint,
    });
    expect(upgraded.slice(0, 2)).toEqual([
      'gestiq upgraded from no revision to 0005_check in 120 ms (rehearsed first: 840 ms on a clone).',
      'Smoke checks: none declared for this target.',
    ]);
    const handedOver = handedOverSummary(release, {
      why: 'W',
      target: 'prod-db',
      gate: { status: 'rejected', message: 'rejected by ana' },
      frozen: true,
      snapshot: 'gestiq_pre_release_1',
    });
    expect(handedOver[1]).toBe(
      'Rollback rejected (rejected by ana); the failed database stays live and writes stay frozen. Run migration-failed on prod-db: its default target revision is the pre-release one (from snapshot gestiq_pre_release_1).',
    );
  });
});
