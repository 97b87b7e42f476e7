import { allHandlersFinished, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { DEFAULT_HEARTBEAT_TIMEOUT } from '../engine/activity-options.js';
import { now } from '../engine/journal.js';
import { acquireLock, lockHolderQuery, releaseLock, type LockHolder } from '../contract/messages.js';

/**
 * One change at a time per target: a lock workflow per target (`target-lock-<target>`, the
 * mutex pattern). Runs acquire it by update-with-start from an activity, so the lock holds however
 * a run was started (API, CLI, Temporal UI, any workflow id).
 */

// Its messages (acquire, release, holder) are in messages.ts, with every runbook's: the client and the
// lock activities use them without loading this workflow.

export async function targetLock(input: { target: string }): Promise<{ target: string }> {
  // The heartbeat timeout: an acquire whose activity died with its worker is retried in seconds, not 30 s.
  const act = proxyActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    heartbeatTimeout: DEFAULT_HEARTBEAT_TIMEOUT,
    retry: { maximumAttempts: 3 },
  });
  let holder: LockHolder | null = null;
  let busy = false; // acquire handlers await an activity: one at a time, or two could both win

  setHandler(acquireLock, async (req) => {
    await condition(() => !busy);
    busy = true;
    try {
      if (holder && holder.runId !== req.runId) {
        // A run that crashed or was terminated never releases: a closed holder loses the lock.
        if ((await act.runIsOpen(holder.runId)).open) return { granted: false, holder };
      }
      if (holder?.runId !== req.runId) holder = { runId: req.runId, runbook: req.runbook, since: now() };
      return { granted: true, holder };
    } finally {
      busy = false;
    }
  });
  setHandler(releaseLock, ({ runId }) => {
    if (holder?.runId === runId) holder = null;
  });
  setHandler(lockHolderQuery, () => holder);

  // Lives while held; once free and quiet for a while it ends, and the next acquire starts it anew.
  for (;;) {
    await condition(() => holder === null && !busy);
    if (!(await condition(() => holder !== null, '1 minute'))) break;
  }
  await condition(allHandlersFinished);
  return { target: input.target };
}
