import { describe, expect, it } from 'vitest';
import type { InvoiceCounts } from '../../src/activities/index.js';
import {
  firstOf,
  foundLines,
  retriedSummary,
  retryEmissionPrompt,
  stateLine,
} from '../../src/runbooks/einvoicing-failed/texts.js';

const counts = (failedIds: number[], failedTotal = failedIds.length): InvoiceCounts => ({
  tables: [
    { table: 'invoices', present: true, byState: { emitted: 3, failed: failedTotal } },
    { table: 'credit_notes', present: true, byState: {} },
    { table: 'receipts', present: false, byState: {} },
  ],
  failedIds,
  failedTotal,
});
const lines = { causes: ['Cause: provider-down: 503.'], logs: [], unchecked: [], counts: '' };

describe("einvoicing-failed's texts", () => {
  it('counts invoices by state per table, saying which are empty and which are missing', () => {
    expect(stateLine(counts([1]))).toBe('invoices: emitted 3, failed 1; credit_notes: empty; receipts: not present');
  });

  it('names only the first failed invoices when there are more, in the prompt too', () => {
    expect(firstOf(20, 20)).toBe('');
    const ids = Array.from({ length: 22 }, (_, i) => i + 1);
    const more = firstOf(22, 40);
    expect(more).toBe(' (the first 22 of 40; run again for the rest)');
    expect(retryEmissionPrompt({ target: 'prod', failedTotal: 40, failed: ids, more }, lines)).toBe(
      `40 invoice(s) failed to emit on prod. Cause: provider-down: 503. Plan: emit 22 again (the first 22 of 40; run again for the rest) through the app (ids ${ids.slice(0, 20).join(', ')}, …), each with its own Idempotency-Key so none is emitted twice; then count again.`,
    );
  });

  it('after the retry, lists the first five refusals and what the app logged', () => {
    const retried = Array.from({ length: 6 }, (_, i) => ({
      id: i + 1,
      key: `k${i}`,
      status: i === 0 ? null : 422,
      ok: false,
      detail: 'rejected',
    }));
    const summary = retriedSummary(
      { moved: 0, failed: [1, 2, 3, 4, 5, 6], before: counts([1]), after: counts([1]), retried, during: ['E1'] },
      foundLines([], { logLines: [], counts: counts([]) } as never, ['x']),
    );
    expect(summary).toEqual([
      '0 of 6 retried invoice(s) left the failed states; 1 still failed.',
      'Before: invoices: emitted 3, failed 1; credit_notes: empty; receipts: not present. After: invoices: emitted 3, failed 1; credit_notes: empty; receipts: not present.',
      'The app refused 6: #1 → no answer rejected; #2 → 422 rejected; #3 → 422 rejected; #4 → 422 rejected; #5 → 422 rejected; ….',
      'The app logged during the retry:\nE1',
      'Not checked: x',
    ]);
  });
});
