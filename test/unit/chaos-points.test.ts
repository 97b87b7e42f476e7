import { describe, expect, it } from 'vitest';
import { choosePoints, killPoints, rotatingPoint, rotationCandidates } from '../chaos/harness.js';

describe('crash-test kill points', () => {
  it('puts a point before and after each execution, numbering repeats, and one inside the long activities', () => {
    expect(killPoints(['describeTarget', 'pgDumpBackup', 'alembicMigrate', 'alembicMigrate'])).toEqual([
      'before:describeTarget',
      'after:describeTarget',
      'before:pgDumpBackup',
      'beat:pgDumpBackup:1',
      'after:pgDumpBackup',
      'before:alembicMigrate',
      'after:alembicMigrate',
      'before:alembicMigrate#2',
      'after:alembicMigrate#2',
    ]);
  });
  it('chooses the riskiest first — after a change, inside a long step, before a change — and keeps the run order', () => {
    const all = killPoints(['describeTarget', 'pgDumpBackup', 'alembicMigrate', 'pgAppliedRevision']);
    expect(choosePoints(all, 3)).toEqual(
      ['after:pgDumpBackup', 'beat:pgDumpBackup:1', 'after:alembicMigrate'].sort(
        (a, b) => all.indexOf(a) - all.indexOf(b),
      ),
    );
    expect(choosePoints(all, 5)).toEqual([
      'before:pgDumpBackup',
      'beat:pgDumpBackup:1',
      'after:pgDumpBackup',
      'before:alembicMigrate',
      'after:alembicMigrate',
    ]);
    expect(choosePoints(all, 100)).toEqual(all);
  });
  it('rotates over the risky points not fixed already, one per commit, every one within as many commits', () => {
    const all = killPoints(['describeTarget', 'pgDumpBackup', 'alembicMigrate', 'pgAppliedRevision']);
    const candidates = rotationCandidates(all, ['after:alembicMigrate']);
    expect(candidates).toEqual([
      'before:pgDumpBackup',
      'beat:pgDumpBackup:1',
      'after:pgDumpBackup',
      'before:alembicMigrate',
    ]);
    const commits = [517, 518, 519, 520];
    expect(commits.map((n) => rotatingPoint(candidates, n)).sort()).toEqual([...candidates].sort());
    expect(rotatingPoint(candidates, 517)).toBe(rotatingPoint(candidates, 521));
    expect(rotatingPoint([], 3)).toBeUndefined();
  });
});
