import { describe, expect, it } from 'vitest';
import type { PaymentsEvidence } from '../../src/activities/index.js';
import { foundLines, nothingToRedriveSummary, redrivenSummary } from '../../src/runbooks/payments-failed/texts.js';

const before = {
  providers: [],
  events: { present: true, failed: [], failedTotal: 0 },
  attempts: [{ provider: 'stripe', status: 'failed', n: 2 }],
} as unknown as PaymentsEvidence;
const held = [
  { id: 'ev1', provider: 'redsys' },
  { id: 'ev2', provider: 'redsys' },
] as PaymentsEvidence['events']['failed'];

describe("payments-failed's texts", () => {
  it('names the events held back by provider once, and says whether any failed at all', () => {
    const lines = foundLines([{ cause: 'failed-events', detail: 'D.' }] as never, before, [], held);
    expect(lines.held).toEqual([
      'Not re-driven: 2 event(s) of redsys, whose webhook or mode is wrong (above): fix that first, then run payments-failed again.',
    ]);
    expect(nothingToRedriveSummary(lines, 2).slice(-1)).toEqual(['Nothing was re-driven.']);
    const none = foundLines([], before, ['x'], []);
    expect(nothingToRedriveSummary(none, 0)).toEqual([
      'Attempts: stripe failed 2.',
      'No failed webhook event to re-drive: the causes above are for a person.',
      'Not checked: x',
    ]);
  });

  it('after the re-drive, lists what the app refused', () => {
    const lines = foundLines([], { ...before, attempts: [] }, [], []);
    const redriven = [
      { id: 'ev1', ok: true, status: 200, detail: '' },
      { id: 'ev2', ok: false, status: null, detail: 'timeout' },
    ];
    expect(redrivenSummary({ done: 1, ids: ['ev1', 'ev2'], failedTotal: 1, redriven } as never, lines)).toEqual([
      '1 of 2 re-driven event(s) were processed; 1 failed event(s) left.',
      'The app refused 1: ev2 → no answer timeout.',
      'Attempts: none.',
    ]);
  });
});
