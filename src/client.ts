import { Client, Connection, WorkflowNotFoundError, type WorkflowExecutionStatusName } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import type { Config } from './config.js';
import { temporalAddress } from './config.js';
import { findRunbook, parseRunbookInput } from './runbooks.js';
import { RunbookInitiator, RunbookName, RunbookPhase, RunbookTarget } from './search-attributes.js';
import { TargetRegistry } from './targets.js';
import { journalQuery } from './workflows/messages.js';
import type { JournalEntry } from './workflows/types.js';

/** Start, inspect and list runs. The API and the CLI both go through here; nothing else calls Temporal. */

export type RunState = 'running' | 'waiting' | 'completed' | 'failed' | 'aborted' | 'timed-out';

/** Temporal's execution status (and our phase) → the status users see. */
export function runState(status: WorkflowExecutionStatusName, phase?: string): RunState {
  switch (status) {
    case 'RUNNING':
    case 'CONTINUED_AS_NEW':
      return phase === 'awaiting-approval' ? 'waiting' : 'running';
    case 'COMPLETED':
      return 'completed';
    case 'FAILED':
      return 'failed';
    case 'CANCELLED':
    case 'TERMINATED':
      return 'aborted';
    case 'TIMED_OUT':
      return 'timed-out';
    default:
      return 'running';
  }
}

export interface StartRequest {
  target: string;
  input?: Record<string, unknown>;
  dryRun?: boolean;
  initiator?: string;
}

export interface RunSummary {
  id: string;
  runbook: string;
  target: string;
  status: RunState;
  phase: string;
  initiator: string;
  startedAt: string;
  closedAt?: string;
}

export interface RunView extends RunSummary {
  result?: unknown;
  error?: string;
  journal?: JournalEntry[];
  uiUrl: string;
}

export class RunNotFoundError extends Error {
  override name = 'RunNotFoundError';
}

/** `<runbook>-<target>-<time-ordered suffix>`: unique per run, sortable by start. */
export function newRunId(runbook: string, target: string, now = Date.now()): string {
  return `${runbook}-${target}-${now.toString(36)}${randomBytes(3).toString('hex')}`;
}

export class RunbookClient {
  constructor(
    readonly temporal: Client,
    private readonly opts: { taskQueue: string; uiUrl: string; namespace: string; targets: () => TargetRegistry },
  ) {}

  static async connect(config: Config): Promise<RunbookClient> {
    const connection = await Connection.connect({ address: temporalAddress(config) });
    const temporal = new Client({ connection, namespace: config.namespace });
    return new RunbookClient(temporal, {
      taskQueue: config.taskQueue,
      uiUrl: config.uiUrl,
      namespace: config.namespace,
      targets: () => TargetRegistry.load(config.targetsFile),
    });
  }

  uiUrl(id: string): string {
    return `${this.opts.uiUrl}/namespaces/${encodeURIComponent(this.opts.namespace)}/workflows/${encodeURIComponent(id)}`;
  }

  /** Validates everything it can before starting, so bad input starts nothing. */
  async start(runbook: string, req: StartRequest): Promise<{ id: string; uiUrl: string }> {
    const def = findRunbook(runbook);
    const input = parseRunbookInput(def, req.input);
    const targets = this.opts.targets();
    targets.spec(req.target);
    targets.checkSecrets(req.target);
    const initiator = req.initiator ?? 'unknown';
    const id = newRunId(runbook, req.target);
    await this.temporal.workflow.start(def.workflowType, {
      workflowId: id,
      taskQueue: this.opts.taskQueue,
      args: [{ ...input, target: req.target, initiator, dryRun: req.dryRun ?? false }],
      typedSearchAttributes: [
        { key: RunbookName, value: runbook },
        { key: RunbookTarget, value: req.target },
        { key: RunbookInitiator, value: initiator },
        { key: RunbookPhase, value: 'starting' },
      ],
    });
    return { id, uiUrl: this.uiUrl(id) };
  }

  async status(id: string): Promise<RunView> {
    const handle = this.temporal.workflow.getHandle(id);
    let desc;
    try {
      desc = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new RunNotFoundError(`Run "${id}" not found. List runs with: runbook ls`);
      throw err;
    }
    const summary = toSummary(id, desc);
    const view: RunView = { ...summary, uiUrl: this.uiUrl(id) };
    if (summary.status === 'completed') view.result = await handle.result();
    else if (summary.status === 'failed' || summary.status === 'timed-out' || summary.status === 'aborted') {
      view.error = await handle.result().then(() => undefined, (err: Error) => failureText(err));
    } else {
      view.journal = await handle.query(journalQuery).catch(() => undefined);
    }
    return view;
  }

  async list(filters: { runbook?: string; target?: string; status?: RunState; limit?: number } = {}): Promise<RunSummary[]> {
    const clauses = [`${RunbookName.name} IS NOT NULL`];
    if (filters.runbook) clauses.push(`${RunbookName.name} = ${quote(filters.runbook)}`);
    if (filters.target) clauses.push(`${RunbookTarget.name} = ${quote(filters.target)}`);
    const runs: RunSummary[] = [];
    const limit = filters.limit ?? 100;
    for await (const wf of this.temporal.workflow.list({ query: clauses.join(' AND ') })) {
      const run = toSummary(wf.workflowId, wf);
      if (filters.status && run.status !== filters.status) continue;
      runs.push(run);
      if (runs.length >= limit) break;
    }
    return runs;
  }

  async close(): Promise<void> {
    await this.temporal.connection.close();
  }
}

interface DescribedLike {
  status: { name: WorkflowExecutionStatusName };
  startTime: Date;
  closeTime?: Date;
  typedSearchAttributes: { get(key: typeof RunbookName): string | undefined };
}

function toSummary(id: string, d: DescribedLike): RunSummary {
  const phase = d.typedSearchAttributes.get(RunbookPhase) ?? 'starting';
  return {
    id,
    runbook: d.typedSearchAttributes.get(RunbookName) ?? 'unknown',
    target: d.typedSearchAttributes.get(RunbookTarget) ?? 'unknown',
    status: runState(d.status.name, phase),
    phase,
    initiator: d.typedSearchAttributes.get(RunbookInitiator) ?? 'unknown',
    startedAt: d.startTime.toISOString(),
    closedAt: d.closeTime?.toISOString(),
  };
}

/** The innermost failure message: the operator's words, not Temporal's wrappers. */
export function failureText(err: unknown): string {
  type Chain = { message?: string; cause?: Chain } | undefined;
  let e = err as Chain;
  let message = e?.message ?? String(err);
  while (e?.cause) {
    e = e.cause;
    if (e.message) message = e.message;
  }
  return message;
}

function quote(value: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(value)) throw new Error(`Invalid filter value ${JSON.stringify(value)}: use letters, digits, dot, dash, underscore.`);
  return `"${value}"`;
}
