import {
  Client,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type ScheduleSummary,
  type WorkflowExecutionStatusName,
} from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import type { Config } from './config.js';
import { checkNamespace, connectClient } from './temporal/connection.js';
import { catalogue, findRunbook, parseRunbookInput, RunbookInputError } from './runbooks/catalogue.js';
import { SCHEDULE_SIGNATURE_EXPIRY, scheduleIdFor, scheduleInitiator } from './contract/schedule-ids.js';
import { parseDuration } from './util/duration.js';
import { RunbookInitiator, RunbookName, RunbookPhase, RunbookTarget } from './contract/search-attributes.js';
import { TargetRegistry } from './targets.js';
import { activeTracing, startTracing, tracingClientInterceptors, type Tracing } from './tracing/index.js';
import { buildTimeline, type Timeline } from './audit/timeline.js';
import { dataConverterFromEnv } from './codec.js';
import { actMessage, alertIntakeId, inputDigest, sign, signDecision, startMessage } from './contract/signing.js';
import {
  abortUpdate,
  alertSignal,
  decideUpdate,
  journalQuery,
  lockHolderQuery,
  lockWorkflowId,
  rootCauseUpdate,
  statusQuery,
  type DecisionInput,
} from './contract/messages.js';
import type { AlertIntakeInput } from './workflows/alert-intake.js';
import { routeAlert, type AlertmanagerAlert } from './alerts.js';
import type { AwaitedInput, GateView, JournalEntry, StartCredential } from './contract/types.js';

/** gRPC status INVALID_ARGUMENT, as Temporal's server answers an id it refuses. */
const GRPC_INVALID_ARGUMENT = 3;

/** Start, inspect and list runs. The API and the CLI both go through here; nothing else calls Temporal. */

export type RunState = 'running' | 'waiting' | 'completed' | 'failed' | 'aborted' | 'timed-out';

/** Temporal's execution status (and our phase) → the status users see. */
export function runState(status: WorkflowExecutionStatusName, phase?: string): RunState {
  switch (status) {
    case 'RUNNING':
    case 'CONTINUED_AS_NEW':
      return phase === 'awaiting-approval' || phase === 'awaiting-input' ? 'waiting' : 'running';
    case 'COMPLETED':
      return 'completed';
    case 'FAILED':
      // A rejected or expired gate, or an abort, ends the run with its compensations done.
      return phase === 'aborted' ? 'aborted' : 'failed';
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
  pendingGates: GateView[];
  /** What the run waits for besides gates (the root-cause note), while it waits. */
  awaiting?: AwaitedInput;
  journal?: JournalEntry[];
  uiUrl: string;
}

export class RunNotFoundError extends Error {
  override name = 'RunNotFoundError';
}

/** A decision or abort that was not accepted; `kind` says why (the API maps it to a status code). */
export class DecisionError extends Error {
  override name = 'DecisionError';
  constructor(
    readonly kind: 'refused' | 'unknown-gate' | 'closed' | 'invalid' | 'run-ended',
    message: string,
  ) {
    super(message);
  }
}

export class TargetBusyError extends Error {
  override name = 'TargetBusyError';
}

/** A schedule request refused: `kind` says why (the API maps it to 400, 404, 409). */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
  constructor(
    readonly kind: 'invalid' | 'not-found' | 'exists',
    message: string,
  ) {
    super(message);
  }
}

/** A scheduled read-only check: one per (runbook, target). */
export interface ScheduleView {
  id: string;
  runbook: string;
  target: string;
  every: string;
  paused: boolean;
  note?: string;
  createdBy: string;
  /** Whether the API signed its runs' start (else they are admitted only where the target allows unsigned starts). */
  signed: boolean;
  nextRunAt?: string;
  recentRuns: Array<{ id: string; scheduledAt: string }>;
  uiUrl: string;
}

/** What the schedule keeps beside its action, so a list shows it without decoding args. */
interface ScheduleMemo {
  runbook: string;
  target: string;
  every: string;
  createdBy: string;
  signed: boolean;
}

export interface DecisionRequest {
  decision: 'approve' | 'reject';
  comment?: string;
  planDigest?: string;
  /** Recovery gates only. */
  action?: 'retry' | 'skip';
  correction?: Record<string, unknown>;
}

export interface Decider {
  person: string;
  roles: string[];
}

/** `<runbook>-<target>-<time-ordered suffix>`: unique per run, sortable by start. */
export function newRunId(runbook: string, target: string, now = Date.now()): string {
  return `${runbook}-${target}-${now.toString(36)}${randomBytes(3).toString('hex')}`;
}

export class RunbookClient {
  constructor(
    readonly temporal: Client,
    private readonly opts: {
      taskQueue: string;
      uiUrl: string;
      namespace: string;
      targets: () => TargetRegistry;
      /** Hex Ed25519 private key: decisions sent through this client are signed (the API's). */
      signingKey?: string;
      /** Tracing this client started for its process (the CLI's), flushed and stopped by close(). */
      tracing?: Tracing;
    },
  ) {}

  static async connect(config: Config, opts: { signingKey?: string } = {}): Promise<RunbookClient> {
    const connection = await connectClient(config);
    await checkNamespace(connection, config).catch(async (err: unknown) => {
      await connection.close();
      throw err;
    });
    // The API (or npm start) started tracing for its process already; the CLI starts its own here.
    const tracing = activeTracing() ? undefined : await startTracing(config.tracing, 'runbook-cli');
    const temporal = new Client({
      connection,
      namespace: config.namespace,
      dataConverter: dataConverterFromEnv(),
      interceptors: tracingClientInterceptors(),
      identity: opts.signingKey ? 'durable-runbooks-api' : `runbook-cli@${process.env.USER ?? 'unknown'}`,
    });
    return new RunbookClient(temporal, {
      tracing,
      taskQueue: config.taskQueue,
      uiUrl: config.uiUrl,
      namespace: config.namespace,
      // Names, routing and policies only: loaded with no environment, so this process (the API, the
      // CLI) could not read a target's password even by mistake. The worker resolves credentials.
      targets: () => TargetRegistry.load(config.targetsFile, {}),
      signingKey: opts.signingKey,
    });
  }

  /** The target names runs may be started on (no more of a target than its name). */
  targetNames(): string[] {
    return this.opts.targets().names();
  }

  uiUrl(id: string): string {
    return `${this.opts.uiUrl}/namespaces/${encodeURIComponent(this.opts.namespace)}/workflows/${encodeURIComponent(id)}`;
  }

  /** Validates everything it can before starting, so bad input starts nothing. */
  async start(runbook: string, req: StartRequest): Promise<{ id: string; uiUrl: string }> {
    const def = findRunbook(runbook);
    const input = parseRunbookInput(def, req.input);
    const targets = this.opts.targets();
    targets.spec(req.target); // the name only: its credentials are the worker's to check (describeTarget)
    if (def.mutates || input.takeLock === true) await this.refuseIfLocked(req.target);
    const initiator = req.initiator ?? 'unknown';
    const id = newRunId(runbook, req.target);
    const args: Record<string, unknown> = { ...input, target: req.target, initiator, dryRun: req.dryRun ?? false };
    const start = this.signStart({ workflowId: id, runbook, target: req.target, initiator, via: 'api', input: args });
    await this.temporal.workflow.start(def.workflowType, {
      workflowId: id,
      taskQueue: this.opts.taskQueue,
      args: [{ ...args, ...(start ? { start } : {}) }],
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
    const desc = await this.describeOrThrow(id);
    const summary = toSummary(id, desc);
    const view: RunView = { ...summary, pendingGates: [], uiUrl: this.uiUrl(id) };
    if (summary.status === 'completed') view.result = await handle.result();
    else if (summary.status === 'failed' || summary.status === 'timed-out' || summary.status === 'aborted') {
      view.error = await handle.result().then(
        () => undefined,
        (err: Error) => failureText(err),
      );
    }
    // Queries on a closed run replay it on a worker (without one, the status still answers).
    // One at a time: two concurrent queries on a closed run can lose one to a cache eviction.
    if (summary.status === 'running' || summary.status === 'waiting') {
      const live = await withTimeout(handle.query(statusQuery), 10_000).catch(() => undefined);
      view.pendingGates = live?.pendingGates ?? [];
      if (live?.awaiting) view.awaiting = live.awaiting;
    }
    view.journal = await withTimeout(handle.query(journalQuery), 10_000).catch(() => undefined);
    return view;
  }

  /**
   * Sends a decision as the `decide` update: the answer (accepted, or refused with the reason)
   * comes back at once. Signed when this client has the signing key.
   */
  async decide(id: string, gate: string, d: DecisionRequest, by: Decider): Promise<GateView> {
    const handle = this.temporal.workflow.getHandle(id);
    const desc = await this.describeOrThrow(id);
    if (desc.status.name !== 'RUNNING') {
      throw new DecisionError(
        'run-ended',
        `Run "${id}" has already ended (${runState(desc.status.name, desc.typedSearchAttributes.get(RunbookPhase))}); decisions are no longer accepted.`,
      );
    }
    const input: DecisionInput = {
      gate,
      decision: d.decision,
      by: by.person,
      roles: by.roles,
      comment: d.comment,
      planDigest: d.planDigest,
      action: d.action,
      correction: d.correction,
    };
    if (this.opts.signingKey) {
      // The signature names the gate's current opening; the plan digest is only ever the one the
      // approver sent (a gate that requires one refuses a decision without it, in the workflow).
      const current = (await handle.query(statusQuery)).pendingGates.find((g) => g.gate === gate);
      input.expiresAt = expiry();
      input.signature = signDecision(
        {
          workflowId: id,
          runId: desc.runId,
          gate,
          planDigest: input.planDigest ?? '',
          decision: d.decision,
          by: by.person,
          roles: by.roles,
          expiresAt: input.expiresAt,
          action: d.action,
          correction: d.correction,
          comment: d.comment,
          opening: current?.opening,
        },
        this.opts.signingKey,
      );
    }
    try {
      return await handle.executeUpdate(decideUpdate, { args: [input] });
    } catch (err) {
      throw decisionError(err, id);
    }
  }

  async abort(id: string, by: string, reason: string): Promise<void> {
    const desc = await this.describeOrThrow(id);
    if (desc.status.name !== 'RUNNING')
      throw new DecisionError(
        'run-ended',
        `Run "${id}" has already ended (${runState(desc.status.name, desc.typedSearchAttributes.get(RunbookPhase))}); there is nothing to abort.`,
      );
    try {
      await this.temporal.workflow
        .getHandle(id)
        .executeUpdate(abortUpdate, { args: [{ by, reason, ...this.signAct('abort', id, desc.runId, by, reason) }] });
    } catch (err) {
      throw decisionError(err, id);
    }
  }

  /**
   * Alertmanager's webhook: each alert routed to (runbook, target) and sent to that pair's intake
   * with signal-with-start (one run per storm; every alert journaled on it). A resolved alert never
   * starts a run. What cannot be routed is reported and starts nothing.
   */
  async alerts(
    payload: { alerts?: AlertmanagerAlert[] },
    postedBy = 'alertmanager',
  ): Promise<{
    accepted: Array<{ alertname: string; status: string; runbook: string; target: string; intake: string }>;
    ignored: Array<{ alertname: string; reason: string; labels: Record<string, string> }>;
  }> {
    const targets = this.opts.targets();
    const accepted: Array<{ alertname: string; status: string; runbook: string; target: string; intake: string }> = [];
    const ignored: Array<{ alertname: string; reason: string; labels: Record<string, string> }> = [];
    for (const a of payload.alerts ?? []) {
      const r = routeAlert(a, targets);
      if (!r.ok) {
        ignored.push({ alertname: r.alertname, reason: r.reason, labels: r.labels });
        continue;
      }
      const def = findRunbook(r.runbook);
      const intake = alertIntakeId(r.runbook, r.target);
      const input = parseRunbookInput(def, {});
      if (r.alert.status === 'resolved') {
        const sent = await this.temporal.workflow
          .getHandle(intake)
          .signal(alertSignal, r.alert)
          .then(
            () => true,
            () => false,
          );
        if (sent)
          accepted.push({
            alertname: r.alert.alertname,
            status: 'resolved',
            runbook: r.runbook,
            target: r.target,
            intake,
          });
        else
          ignored.push({
            alertname: r.alert.alertname,
            reason: 'resolved, and no run is open for it: nothing started',
            labels: r.alert.labels,
          });
        continue;
      }
      const intakeInput: AlertIntakeInput = {
        runbook: r.runbook,
        workflowType: def.workflowType,
        target: r.target,
        input,
      };
      // Each alert carries the person who posted it and a start signed for the intake: the run it
      // may open is theirs (four-eyes compares with them), whichever alert of a storm opens it.
      const runInput = { ...input, target: r.target, initiator: postedBy, dryRun: false };
      const start = this.signStart({
        workflowId: intake,
        runbook: r.runbook,
        target: r.target,
        initiator: postedBy,
        via: 'alertmanager',
        input: runInput,
      });
      await this.temporal.workflow.signalWithStart('alertIntake', {
        workflowId: intake,
        taskQueue: this.opts.taskQueue,
        args: [intakeInput],
        signal: alertSignal,
        signalArgs: [{ ...r.alert, postedBy, ...(start ? { start } : {}) }],
      });
      accepted.push({ alertname: r.alert.alertname, status: 'firing', runbook: r.runbook, target: r.target, intake });
    }
    return { accepted, ignored };
  }

  /** The root-cause note a repair runbook asks for at its end. */
  async rootCause(id: string, by: string, note: string): Promise<void> {
    const desc = await this.describeOrThrow(id);
    if (desc.status.name !== 'RUNNING')
      throw new DecisionError(
        'run-ended',
        `Run "${id}" has already ended (${runState(desc.status.name, desc.typedSearchAttributes.get(RunbookPhase))}); put the root cause in the incident ticket instead.`,
      );
    try {
      await this.temporal.workflow.getHandle(id).executeUpdate(rootCauseUpdate, {
        args: [{ by, note, ...this.signAct('root-cause', id, desc.runId, by, note) }],
      });
    } catch (err) {
      throw decisionError(err, id);
    }
  }

  /** The run as an incident record: journal, decisions and the messages Temporal recorded. */
  async timeline(id: string): Promise<Timeline> {
    const view = await this.status(id);
    const history = await this.temporal.workflow.getHandle(id).fetchHistory();
    return buildTimeline(view, history.events ?? []);
  }

  /** The API's proof that it forwarded this start; none without the signing key (CLI, tests, like the Temporal UI). */
  private signStart(f: {
    workflowId: string;
    runbook: string;
    target: string;
    initiator: string;
    via: StartCredential['via'];
    input: Record<string, unknown>;
  }): StartCredential | undefined {
    if (!this.opts.signingKey) return undefined;
    // Checked against the run's start time: a minute is plenty, and little for a copied credential.
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    const message = startMessage({
      workflowId: f.workflowId,
      runbook: f.runbook,
      target: f.target,
      initiator: f.initiator,
      via: f.via,
      inputDigest: inputDigest(f.input),
      expiresAt,
    });
    return { via: f.via, expiresAt, signature: sign(message, this.opts.signingKey) };
  }

  private signAct(
    kind: 'abort' | 'root-cause',
    workflowId: string,
    runId: string,
    by: string,
    text: string,
  ): { signature?: string; expiresAt?: string } {
    if (!this.opts.signingKey) return {};
    const expiresAt = expiry();
    return {
      expiresAt,
      signature: sign(actMessage({ kind, workflowId, runId, by, text, expiresAt }), this.opts.signingKey),
    };
  }

  /** Refuses a start at once while another run holds the target (the run checks again itself). */
  private async refuseIfLocked(target: string): Promise<void> {
    const lock = this.temporal.workflow.getHandle(lockWorkflowId(target));
    const holder = await lock.query(lockHolderQuery).catch(() => null);
    if (!holder) return;
    const open = await this.temporal.workflow
      .getHandle(holder.runId)
      .describe()
      .then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      );
    if (open)
      throw new TargetBusyError(
        `Target "${target}" is being changed by run ${holder.runId} (${holder.runbook}, since ${holder.since}): one change at a time. Wait for it to end, or abort it: runbook abort ${holder.runId} --reason "…".`,
      );
  }

  private async describeOrThrow(id: string) {
    try {
      return await this.temporal.workflow.getHandle(id).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new RunNotFoundError(`Run "${id}" not found. List runs with: runbook ls`);
      // An id Temporal refuses outright (an empty one, as "/runs/." arrives): no run can have it.
      const cause = (err as { cause?: { code?: number; details?: string } }).cause;
      if (err instanceof ServiceError && cause?.code === GRPC_INVALID_ARGUMENT) {
        throw new RunNotFoundError(
          `Run "${id}" not found: Temporal refuses that id (${cause.details ?? 'invalid argument'}). List runs with: runbook ls`,
        );
      }
      throw err;
    }
  }

  async list(
    filters: { runbook?: string; target?: string; status?: RunState; limit?: number } = {},
  ): Promise<RunSummary[]> {
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

  /**
   * Runs a read-only check on a target every `every` (at least 1m) on a Temporal Schedule
   * `check-<runbook>-<target>`: one per pair, overlapping runs skipped. Everything is checked before
   * Temporal is called. Signed (with the API's key) for its runs, which then carry no secret.
   */
  async createSchedule(
    runbook: string,
    target: string,
    every: string,
    opts: { initiator?: string; input?: Record<string, unknown>; note?: string } = {},
  ): Promise<ScheduleView> {
    const def = findRunbook(runbook);
    const checks = catalogue
      .filter((r) => !r.mutates && r.gates.length === 0)
      .map((r) => r.name)
      .join(', ');
    if (def.mutates)
      throw new ScheduleError(
        'invalid',
        `Runbook "${runbook}" changes its target, so it cannot run on a schedule (read-only checks can: ${checks}). Start it when needed: runbook start ${runbook} --target ${target}.`,
      );
    if (def.gates.length > 0)
      throw new ScheduleError(
        'invalid',
        `Runbook "${runbook}" waits at a gate, and nobody answers a gate on a schedule (read-only checks can run on one: ${checks}).`,
      );
    const input = parseRunbookInput(def, opts.input);
    const targets = this.opts.targets();
    const spec = targets.spec(target);
    let ms: number;
    try {
      ms = parseDuration(every);
    } catch (err) {
      throw new ScheduleError('invalid', `Interval ${(err as Error).message}`);
    }
    if (ms < 60_000)
      throw new ScheduleError('invalid', `A check runs at most once a minute: "${every}" is shorter; use 1m or more.`);
    if (ms > 366 * 86_400_000)
      throw new ScheduleError('invalid', `A check runs at least once a year: "${every}" is longer; use 366d or less.`);
    if (!this.opts.signingKey && (spec.policy?.unsignedStarts ?? 'deny') === 'deny') {
      throw new ScheduleError(
        'invalid',
        `Target "${target}" accepts only runs started through the API (policy.unsignedStarts: deny), and this client cannot sign them: create the schedule through the API (RUNBOOK_API set, or POST /schedules).`,
      );
    }
    const id = scheduleIdFor(runbook, target);
    const initiator = scheduleInitiator(id);
    const createdBy = opts.initiator ?? 'unknown';
    const args: Record<string, unknown> = { ...input, target, initiator, dryRun: false };
    const start = this.opts.signingKey && {
      via: 'schedule' as const,
      expiresAt: SCHEDULE_SIGNATURE_EXPIRY,
      signature: sign(
        startMessage({
          workflowId: id,
          runbook,
          target,
          initiator,
          via: 'schedule',
          inputDigest: inputDigest(args),
          expiresAt: SCHEDULE_SIGNATURE_EXPIRY,
        }),
        this.opts.signingKey,
      ),
    };
    const memo: ScheduleMemo = { runbook, target, every, createdBy, signed: !!start };
    try {
      await this.temporal.schedule.create({
        scheduleId: id,
        spec: { intervals: [{ every: ms }] },
        action: {
          type: 'startWorkflow',
          workflowType: def.workflowType,
          workflowId: id, // each run: <id>-<scheduled time>
          taskQueue: this.opts.taskQueue,
          args: [{ ...args, ...(start ? { start } : {}) }],
          typedSearchAttributes: [
            { key: RunbookName, value: runbook },
            { key: RunbookTarget, value: target },
            { key: RunbookInitiator, value: initiator },
            { key: RunbookPhase, value: 'starting' },
          ],
        },
        // A check missed while Temporal was down is not worth a burst of catch-up runs: the next one comes.
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(ms, 10_000) },
        state: { note: opts.note ?? `Created by ${createdBy}` },
        memo: { ...memo },
      });
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        throw new ScheduleError(
          'exists',
          `Schedule ${id} already runs ${runbook} on ${target} (one schedule per runbook and target). To change it, delete it and create it again: runbook schedule delete ${id}.`,
        );
      }
      throw err;
    }
    return this.describeSchedule(id);
  }

  /** Our schedules (check-…), with their state and next run. */
  async listSchedules(): Promise<ScheduleView[]> {
    const views: ScheduleView[] = [];
    for await (const s of this.temporal.schedule.list()) {
      if (s.scheduleId.startsWith('check-')) views.push(this.scheduleView(s));
    }
    return views.sort((a, b) => a.id.localeCompare(b.id));
  }

  async describeSchedule(id: string): Promise<ScheduleView> {
    return this.scheduleView(await this.onSchedule(id, (h) => h.describe()));
  }

  async pauseSchedule(id: string, by: string, note?: string): Promise<ScheduleView> {
    await this.onSchedule(id, (h) => h.pause(note ? `${note} (paused by ${by})` : `Paused by ${by}`));
    return this.describeSchedule(id);
  }

  async unpauseSchedule(id: string, by: string, note?: string): Promise<ScheduleView> {
    await this.onSchedule(id, (h) => h.unpause(note ? `${note} (unpaused by ${by})` : `Unpaused by ${by}`));
    return this.describeSchedule(id);
  }

  /** Runs the check now, even while its previous run is still going (someone asked; checks are read-only). */
  async triggerSchedule(id: string): Promise<void> {
    await this.onSchedule(id, (h) => h.trigger(ScheduleOverlapPolicy.ALLOW_ALL));
  }

  async deleteSchedule(id: string): Promise<void> {
    await this.onSchedule(id, (h) => h.delete());
  }

  scheduleUiUrl(id: string): string {
    return `${this.opts.uiUrl}/namespaces/${encodeURIComponent(this.opts.namespace)}/schedules/${encodeURIComponent(id)}`;
  }

  private async onSchedule<T>(
    id: string,
    fn: (h: ReturnType<Client['schedule']['getHandle']>) => Promise<T>,
  ): Promise<T> {
    const missing = () =>
      new ScheduleError('not-found', `Schedule "${id}" not found. List schedules with: runbook schedule ls`);
    if (!id.startsWith('check-')) throw missing(); // not one of ours: never touched from here
    try {
      return await fn(this.temporal.schedule.getHandle(id));
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw missing();
      // An id Temporal refuses outright (too long, odd characters): no schedule can have it.
      const cause = (err as { cause?: { code?: number } }).cause;
      if (
        (err instanceof ServiceError && cause?.code === GRPC_INVALID_ARGUMENT) ||
        (err as { code?: number }).code === GRPC_INVALID_ARGUMENT
      )
        throw missing();
      throw err;
    }
  }

  private scheduleView(s: Pick<ScheduleSummary, 'scheduleId' | 'memo' | 'state' | 'info'>): ScheduleView {
    const memo = (s.memo ?? {}) as Partial<ScheduleMemo>;
    return {
      id: s.scheduleId,
      runbook: memo.runbook ?? 'unknown',
      target: memo.target ?? 'unknown',
      every: memo.every ?? 'unknown',
      paused: s.state.paused,
      ...(s.state.note ? { note: s.state.note } : {}),
      createdBy: memo.createdBy ?? 'unknown',
      signed: memo.signed ?? false,
      ...(s.info.nextActionTimes[0] ? { nextRunAt: s.info.nextActionTimes[0].toISOString() } : {}),
      recentRuns: s.info.recentActions.map((a) => ({
        id: a.action.workflow.workflowId,
        scheduledAt: a.scheduledAt.toISOString(),
      })),
      uiUrl: this.scheduleUiUrl(s.scheduleId),
    };
  }

  async close(): Promise<void> {
    await this.temporal.connection.close();
    await this.opts.tracing?.shutdown();
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

function decisionError(err: unknown, id: string): Error {
  if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test(String((err as Error).message))) {
    return new DecisionError('run-ended', `Run "${id}" has already ended; decisions are no longer accepted.`);
  }
  if (!(err instanceof WorkflowUpdateFailedError)) return err as Error;
  const cause = err.cause as { type?: string; message?: string } | undefined;
  const message = cause?.message ?? err.message;
  if (cause?.type === 'DecisionRefused') return new DecisionError('refused', message);
  if (message.startsWith('There is no gate')) return new DecisionError('unknown-gate', message);
  if (/already closed|already being aborted|already ended/.test(message)) return new DecisionError('closed', message);
  return new DecisionError('invalid', message);
}

/** Signatures are good for five minutes: long enough for a slow server, too short to hoard. */
function expiry(): string {
  return new Date(Date.now() + 5 * 60_000).toISOString();
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);
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
  if (!/^[A-Za-z0-9_.:-]+$/.test(value))
    throw new RunbookInputError(
      `Invalid filter value ${JSON.stringify(value)}: use letters, digits, dot, dash, underscore.`,
    );
  return `"${value}"`;
}
