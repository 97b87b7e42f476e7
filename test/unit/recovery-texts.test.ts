import { describe, expect, it } from 'vitest';
import { recoveryPlan } from '../../src/engine/recovery-texts.js';

describe('a recovery gate after repeated failures', () => {
  const restart = { step: 'restart-worker', target: 'prod-db', skippable: true };
  const refused = 'Stopping gestiq-worker-imports failed: no pid file.';

  it('counts a retry with a new correction as a change, and a retry without one after a correction too', () => {
    const verify = { step: 'verify', target: 'rec-db', skippable: false, corrections: { verifyTarget: 'target name' } };
    const changed = recoveryPlan(verify, [
      { error: refused },
      { error: refused, correction: { verifyTarget: 'a' } },
      { error: refused },
    ]);
    expect(changed.evidence).toMatchObject({
      failures: 3,
      sameErrorAsLast: false,
      suggested: ['retry', 'correct', 'abort'],
    });
    expect(changed.prompt).toBe(
      `Step "verify" failed after its retries, after this run had changed rec-db: ${refused} Retry it (with a correction {"verifyTarget": "<target name>"} if needed), or reject to abort and undo.`,
    );
    const same = recoveryPlan(verify, [
      { error: refused },
      { error: refused, correction: { verifyTarget: 'a' } },
      { error: refused, correction: { verifyTarget: 'a' } },
    ]);
    expect(same.evidence).toMatchObject({ failures: 3, sameErrorAsLast: true, suggested: ['correct', 'abort'] });
  });

  it('on a step that reads no correction, proposes skip or abort, and counts the repeats', () => {
    const three = recoveryPlan(restart, [{ error: refused }, { error: refused }, { error: refused }]);
    expect(three.evidence).toEqual({
      step: 'restart-worker',
      error: refused,
      failures: 3,
      sameErrorAsLast: true,
      suggested: ['skip', 'abort'],
    });
    expect(three.prompt).toBe(
      `Step "restart-worker" failed 3 times with the same error: retrying unchanged will fail again. After this run had changed prod-db: ${refused} Instead, skip it, or reject to abort and undo. Only retry unchanged if you fixed the cause outside this run.`,
    );
    const otherError = recoveryPlan(restart, [{ error: refused }, { error: 'Unit gestiq-worker-imports not found.' }]);
    expect(otherError.evidence).toMatchObject({ sameErrorAsLast: false, suggested: ['retry', 'skip', 'abort'] });
  });
});
