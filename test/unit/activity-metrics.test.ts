import { describe, expect, it } from 'vitest';
import { resultMetrics } from '../../src/metrics/activity.js';

const values = (activity: string, args: unknown[], result: unknown) =>
  Object.fromEntries(
    resultMetrics(activity, args, result).map((m) => [`${m.name}${JSON.stringify(m.labels)}`, m.value]),
  );

describe('metrics counted from what an activity did', () => {
  it('counts a dump written this attempt, with its bytes and seconds, and not one an earlier attempt had made', () => {
    expect(
      values('pgDumpBackup', ['prod-db', { name: 'b1' }], {
        totalBytes: 5_000_000,
        durationMs: 2_500,
        pgDumpMs: 2_000,
      }),
    ).toEqual({
      'runbook_dumps{"target":"prod-db"}': 1,
      'runbook_dump_bytes{"target":"prod-db"}': 5_000_000,
      'runbook_dump_seconds{"target":"prod-db"}': 2.5,
    });
    expect(values('pgDumpBackup', ['prod-db', { name: 'b1' }], { totalBytes: 5_000_000, durationMs: 2_500 })).toEqual(
      {},
    );
  });

  it('counts a restore by format, locks taken, and only locks really released', () => {
    expect(values('pgRestoreInto', ['prod-db', {}], { format: 'directory', bytes: 1024, durationMs: 800 })).toEqual({
      'runbook_restores{"target":"prod-db","format":"directory"}': 1,
      'runbook_restore_bytes{"target":"prod-db","format":"directory"}': 1024,
      'runbook_restore_seconds{"target":"prod-db","format":"directory"}': 0.8,
    });
    expect(values('acquireTargetLock', ['prod-db', 'release-migration'], { holder: 'r1', since: 'now' })).toEqual({
      'runbook_lock_acquired{"target":"prod-db"}': 1,
    });
    expect(values('releaseTargetLock', ['prod-db'], { released: true })).toEqual({
      'runbook_lock_released{"target":"prod-db"}': 1,
    });
    expect(values('releaseTargetLock', ['prod-db'], { released: false })).toEqual({});
    expect(values('pgQuery', ['prod-db'], {})).toEqual({});
  });
});
