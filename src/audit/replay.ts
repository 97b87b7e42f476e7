import { readFileSync } from 'node:fs';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, type ReplayWorkerOptions } from '@temporalio/worker';

/**
 * Audit replay: a recorded history (as `temporal workflow show --output json` writes it, or
 * fetched by id) replayed against today's workflow code. A code change that would break running
 * runbooks shows up here as a determinism problem.
 */

export interface ReplayReport {
  workflowId: string;
  workflowType: string;
  events: number;
  ok: boolean;
  problem?: string;
}

type History = temporal.api.history.v1.IHistory;

export function loadHistoryFile(file: string): History {
  try {
    return historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new Error(`${file} is not a workflow history in JSON (export one with: temporal workflow show --workflow-id <id> --output json > ${file}): ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * Replays with the run's own workflow id (the history's first event has it): signed decisions are
 * bound to it, so a replay under another id would take other paths.
 */
export async function replay(history: History, fallbackId: string, code: Pick<ReplayWorkerOptions, 'workflowsPath' | 'workflowBundle'>): Promise<ReplayReport> {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes as { workflowType?: { name?: string | null } | null; workflowId?: string | null } | undefined;
  const workflowId = started?.workflowId || fallbackId;
  const report = { workflowId, workflowType: started?.workflowType?.name ?? 'unknown', events: history.events?.length ?? 0 };
  try {
    await Worker.runReplayHistory({ ...code, replayName: `audit-${workflowId}` }, history, workflowId);
    return { ...report, ok: true };
  } catch (err) {
    return { ...report, ok: false, problem: (err as Error).message };
  }
}

/** Replay quietly: the SDK logs the nondeterminism at length; the report says it in one place. */
export function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed by the host program
  }
}
