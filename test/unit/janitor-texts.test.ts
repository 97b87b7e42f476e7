import { describe, expect, it } from 'vitest';
import { janitorSummary, removePrompt } from '../../src/runbooks/janitor/texts.js';

const snapshot = { name: 'gestiq_undo_a1', kind: 'snapshot', reason: 'older than 7d' };
const dump = { name: 'gestiq_undo_a1', kind: 'dump', reason: 'its snapshot is kept' };

describe("janitor's texts", () => {
  it('asks to drop each leftover with its kind and reason', () => {
    expect(removePrompt('prod', [snapshot])).toBe(
      'Drop 1 leftover(s) of durable-runbooks on prod for good: gestiq_undo_a1 (snapshot: older than 7d). Everything else is kept.',
    );
  });

  it('says what a dry run would remove, what a run removed, and "nothing" for an empty list', () => {
    expect(janitorSummary({ dryRun: true, toRemove: [snapshot], removed: [], kept: [] })).toEqual([
      'Dry run: would remove 1: gestiq_undo_a1 (older than 7d).',
      'Kept 0: nothing.',
    ]);
    expect(janitorSummary({ dryRun: false, toRemove: [snapshot], removed: [], kept: [dump] })).toEqual([
      'Removed 0: nothing.',
      'Kept 1: gestiq_undo_a1 (its snapshot is kept).',
    ]);
  });
});
