import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resumeFrom, type ActionProgress } from '../../src/activities/services.js';
import { fileLedger } from '../../src/activities/step-ledger.js';

const dir = () => mkdtempSync(path.join(os.tmpdir(), 'ledger-'));

describe('step ledger', () => {
  it('gives a retry what the earlier attempt recorded, and the first attempt nothing', async () => {
    const d = dir();
    await fileLedger<{ done: number }>(d, 'wf/run/7', 1).write({ done: 1 });
    await fileLedger<{ done: number }>(d, 'wf/run/7', 1).write({ done: 2 });
    expect(await fileLedger(d, 'wf/run/7', 2).read()).toEqual({ done: 2 });
    expect(await fileLedger(d, 'wf/run/7', 1).read()).toBeUndefined(); // a first attempt never trusts a file
    expect(await fileLedger(d, 'wf/run/8', 2).read()).toBeUndefined(); // another activity's record is not this one's
    expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]); // replaced whole, no temp left
  });

  it('fails loudly on a record it cannot parse or a directory it cannot write', async () => {
    const d = dir();
    await fileLedger(d, 'k', 1).write({ done: 1 });
    const [file] = readdirSync(d);
    writeFileSync(path.join(d, file!), '{"done": 1');
    await expect(fileLedger(d, 'k', 2).read()).rejects.toThrow(SyntaxError);
    // A directory under a file, which no one (not even root, who ignores modes) can create.
    const impossible = path.join(d, file!, 'sub');
    await expect(fileLedger(impossible, 'k', 1).write({ done: 0 })).rejects.toThrow();
  });
});

describe('resuming a service action', () => {
  const prior = (p: Partial<ActionProgress>): ActionProgress => ({
    action: 'restart',
    plan: ['stop', 'start'],
    done: 1,
    sinceS: 1,
    since: 0,
    ...p,
  });

  it('skips the commands an earlier attempt ran', () => {
    expect(resumeFrom(undefined, 'restart', ['stop', 'start'])).toEqual({ skip: 0 });
    expect(resumeFrom(prior({ done: 1 }), 'restart', ['stop', 'start'])).toEqual({ skip: 1 });
    expect(resumeFrom(prior({ done: 2 }), 'restart', ['stop', 'start'])).toEqual({ skip: 2 });
  });

  it('refuses to resume when the step now plans other commands (the targets file changed)', () => {
    expect(resumeFrom(prior({ plan: ['systemctl restart a'] }), 'restart', ['stop', 'start'])).toEqual({
      refuse:
        'an earlier attempt ran 1 of [systemctl restart a] for restart, and the step now plans [stop; start] for restart',
    });
    expect(resumeFrom(prior({ action: 'stop' }), 'restart', ['stop', 'start'])).toHaveProperty('refuse');
  });
});
