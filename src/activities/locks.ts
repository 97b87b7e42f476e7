import { Context } from '@temporalio/activity';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { acquireLock, lockWorkflowId, releaseLock } from '../contract/messages.js';

/** The target lock, seen from a run: acquire (refused at once with the holder) and release. */
export function createLockActivities(temporal: () => Promise<Client>, lockTaskQueue: string) {
  return {
    async acquireTargetLock(target: string, runbook: string): Promise<{ holder: string; since: string }> {
      const runId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      const client = await temporal();
      const { granted, holder } = await client.workflow.executeUpdateWithStart(acquireLock, {
        args: [{ runId, runbook }],
        startWorkflowOperation: new WithStartWorkflowOperation('targetLock', {
          workflowId: lockWorkflowId(target),
          taskQueue: lockTaskQueue,
          args: [{ target }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });
      if (!granted) {
        throw ApplicationFailure.nonRetryable(
          `Target "${target}" is being changed by run ${holder.runId} (${holder.runbook}, since ${holder.since}): one change at a time. Wait for it to end, or abort it: runbook abort ${holder.runId} --reason "…".`,
          'TargetLocked',
        );
      }
      return { holder: holder.runId, since: holder.since };
    },

    async releaseTargetLock(target: string): Promise<{ released: boolean }> {
      const runId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      const client = await temporal();
      try {
        await client.workflow.getHandle(lockWorkflowId(target)).signal(releaseLock, { runId });
        return { released: true };
      } catch (err) {
        if ((err as Error).name === 'WorkflowNotFoundError') return { released: false }; // the lock had already ended
        throw err;
      }
    },

    async runIsOpen(workflowId: string): Promise<{ open: boolean }> {
      const client = await temporal();
      try {
        return { open: (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING' };
      } catch (err) {
        if ((err as Error).name === 'WorkflowNotFoundError') return { open: false };
        throw err;
      }
    },
  };
}
