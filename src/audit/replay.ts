import { readFileSync } from 'node:fs';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { codecFromEnv, encryptingDataConverter, encryptionKeyId } from '../codec.js';
import { tracingSinks, workflowInterceptorModules } from '../tracing/index.js';

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
    throw new Error(
      `${file} is not a workflow history in JSON (export one with: temporal workflow show --workflow-id <id> --output json > ${file}): ${(err as Error).message.split('\n')[0]}`,
    );
  }
}

/**
 * Replays with the run's own workflow id (the history's first event has it): signed decisions are
 * bound to it, so a replay under another id would take other paths. Encrypted histories replay
 * with the payload keys in the environment (RUNBOOK_PAYLOAD_KEY, RUNBOOK_PAYLOAD_OLD_KEYS).
 */
export async function replay(
  history: History,
  fallbackId: string,
  code: Pick<ReplayWorkerOptions, 'workflowsPath' | 'workflowBundle'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReplayReport> {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes as
    { workflowType?: { name?: string | null } | null; workflowId?: string | null } | undefined;
  const workflowId = started?.workflowId || fallbackId;
  const report = {
    workflowId,
    workflowType: started?.workflowType?.name ?? 'unknown',
    events: history.events?.length ?? 0,
  };
  let codec;
  try {
    codec = codecFromEnv(env);
  } catch (err) {
    return { ...report, ok: false, problem: (err as Error).message };
  }
  const keyIds = encryptionKeyIds(history);
  if (keyIds.size > 0 && !codec) {
    return {
      ...report,
      ok: false,
      problem: `its payloads are encrypted (key ${[...keyIds].join(', ')}): set RUNBOOK_PAYLOAD_KEY (and RUNBOOK_PAYLOAD_OLD_KEYS for keys since rotated) as the worker has them, then replay again.`,
    };
  }
  const missing = [...keyIds].filter((id) => !codec?.hasKey(id));
  if (missing.length > 0) {
    return {
      ...report,
      ok: false,
      problem: `its payloads are encrypted with key ${missing.join(', ')}, which RUNBOOK_PAYLOAD_KEY and RUNBOOK_PAYLOAD_OLD_KEYS here do not hold: add it to RUNBOOK_PAYLOAD_OLD_KEYS, then replay again.`,
    };
  }
  try {
    // The same interceptor modules as the worker's own bundles, so a traced run replays the path it took.
    const bundling = code.workflowBundle ? {} : { interceptors: { workflowModules: workflowInterceptorModules } };
    await Worker.runReplayHistory(
      {
        ...code,
        ...bundling,
        sinks: tracingSinks(),
        dataConverter: codec && encryptingDataConverter(codec),
        replayName: `audit-${workflowId}`,
      },
      history,
      workflowId,
    );
    return { ...report, ok: true };
  } catch (err) {
    return { ...report, ok: false, problem: (err as Error).message };
  }
}

/** The ids of the keys the history's payloads are encrypted with (none when it is plain). */
function encryptionKeyIds(history: History): Set<string> {
  const ids = new Set<string>();
  const walk = (v: unknown): void => {
    if (!v || typeof v !== 'object' || ArrayBuffer.isView(v)) return;
    if (Array.isArray(v)) return v.forEach(walk);
    const { metadata } = v as { metadata?: Record<string, Uint8Array | null> | null };
    const id = metadata ? encryptionKeyId({ metadata }) : undefined;
    if (id !== undefined) ids.add(id);
    for (const child of Object.values(v)) walk(child);
  };
  walk(history.events);
  return ids;
}

/** Replay quietly: the SDK logs the nondeterminism at length; the report says it in one place. */
export function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed by the host program
  }
}
