import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { generateRules, rulesFile } from './alerts.js';
import type { ReplayReport } from './audit/replay.js';
import { renderMarkdown } from './audit/timeline.js';
import { ApiBackend } from './cli-api.js';
import { RunbookClient, type DecisionRequest, type RunSummary, type RunView, type ScheduleView } from './client.js';
import { loadConfig } from './config.js';
import type { RunbookResult } from './contract/types.js';
import { parseDuration } from './util/duration.js';
import { viewText } from './evidence/text.js';
import { evidenceView } from './evidence/view.js';
import { procedureOf, renderProcedure } from './print.js';
import { describeScaffold, scaffoldRunbook } from './scaffold/scaffold.js';
import { TargetRegistry } from './targets.js';
import { isMain } from './util/main.js';
import { workflowsPath } from './workflows-path.js';
import type { RecoveryAction, RecoveryEvidence } from './engine/recovery-texts.js';
import type { GateView } from './contract/types.js';

/**
 * The `runbook` command: parse, call the backend, print. `--json` everywhere for scripts.
 * With RUNBOOK_API and RUNBOOK_TOKEN it goes through the HTTP API (decisions signed there);
 * otherwise straight to Temporal (decisions unsigned: accepted only where the target allows).
 */

const print = (json: boolean, data: unknown, human: () => string) =>
  console.log(json ? JSON.stringify(data, null, 2) : human());
const me = (as?: string) => as ?? process.env.USER ?? os.userInfo().username;

interface Backend {
  start(
    runbook: string,
    req: { target: string; input?: Record<string, unknown>; dryRun?: boolean },
    as?: string,
  ): Promise<{ id: string; uiUrl: string }>;
  status(id: string): Promise<RunView>;
  list(f: { runbook?: string; target?: string; status?: RunSummary['status']; limit?: number }): Promise<RunSummary[]>;
  decide(id: string, gate: string, d: DecisionRequest, as?: string, roles?: string[]): Promise<GateView>;
  abort(id: string, reason: string, as?: string): Promise<void>;
  rootCause(id: string, note: string, as?: string): Promise<void>;
  timeline(id: string, format: 'md' | 'json'): Promise<unknown>;
  createSchedule(
    runbook: string,
    target: string,
    every: string,
    opts: { input?: Record<string, unknown>; note?: string },
    as?: string,
  ): Promise<ScheduleView>;
  listSchedules(): Promise<ScheduleView[]>;
  pauseSchedule(id: string, note?: string, as?: string): Promise<ScheduleView>;
  unpauseSchedule(id: string, note?: string, as?: string): Promise<ScheduleView>;
  triggerSchedule(id: string): Promise<void>;
  deleteSchedule(id: string): Promise<void>;
}

async function withBackend<T>(fn: (b: Backend) => Promise<T>): Promise<T> {
  const api = process.env.RUNBOOK_API;
  if (api) {
    const token = process.env.RUNBOOK_TOKEN;
    if (!token)
      throw new Error(
        'RUNBOOK_API is set but RUNBOOK_TOKEN is not: set your API token (npm start writes development ones to .data/dev-tokens.json).',
      );
    const http = new ApiBackend(api, token);
    return fn({
      start: (runbook, req) => http.start(runbook, req),
      status: (id) => http.status(id),
      list: (f) => http.list(f),
      decide: (id, gate, d) => http.decide(id, gate, d),
      abort: (id, reason) => http.abort(id, reason),
      rootCause: (id, note) => http.rootCause(id, note),
      timeline: (id, format) => (format === 'md' ? http.timelineMarkdown(id) : http.timelineJson(id)),
      createSchedule: (runbook, target, every, opts) => http.createSchedule(runbook, target, every, opts),
      listSchedules: () => http.listSchedules(),
      pauseSchedule: (id, note) => http.pauseSchedule(id, note),
      unpauseSchedule: (id, note) => http.unpauseSchedule(id, note),
      triggerSchedule: (id) => http.triggerSchedule(id),
      deleteSchedule: (id) => http.deleteSchedule(id),
    });
  }
  const client = await RunbookClient.connect(loadConfig());
  try {
    return await fn({
      start: (runbook, req, as) => client.start(runbook, { ...req, initiator: me(as) }),
      status: (id) => client.status(id),
      list: (f) => client.list(f),
      decide: (id, gate, d, as, roles) => client.decide(id, gate, d, { person: me(as), roles: roles ?? ['approver'] }),
      abort: (id, reason, as) => client.abort(id, me(as), reason),
      rootCause: (id, note, as) => client.rootCause(id, me(as), note),
      async timeline(id, format) {
        const t = await client.timeline(id);
        return format === 'md' ? renderMarkdown(t) : t;
      },
      createSchedule: (runbook, target, every, opts, as) =>
        client.createSchedule(runbook, target, every, { ...opts, initiator: me(as) }),
      listSchedules: () => client.listSchedules(),
      pauseSchedule: (id, note, as) => client.pauseSchedule(id, me(as), note),
      unpauseSchedule: (id, note, as) => client.unpauseSchedule(id, me(as), note),
      triggerSchedule: (id) => client.triggerSchedule(id),
      deleteSchedule: (id) => client.deleteSchedule(id),
    });
  } finally {
    await client.close();
  }
}

/** Prints the open gate's plan to stderr and returns its digest (undefined when the gate is not open: the workflow says why). */
function showPlan(run: RunView, gate: string, json: boolean): string | undefined {
  const g = run.pendingGates.find((p) => p.gate === gate);
  if (!g) return undefined;
  // The evidence as words, as `runbook status` shows it; --json keeps it raw for scripts.
  const evidence = json
    ? [`  evidence: ${JSON.stringify(g.evidence)}`]
    : ['  evidence:', ...viewText(evidenceView(run.runbook, g.gate, g.evidence, { journal: run.journal }), '    ')];
  console.error([`Plan of gate "${g.gate}" (digest ${g.planDigest}):`, `  ${g.prompt}`, ...evidence].join('\n'));
  return g.planDigest;
}

function parseJsonOption(value: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new InvalidArgumentError(`It must be a JSON object, e.g. '{"longTransactionSeconds": 60}'.`);
  }
}

/** How to decide a gate from the shell; a recovery gate lists its actions in the order its evidence suggests. */
function decideLines(id: string, g: GateView): string[] {
  const approve = `runbook approve ${id} ${g.gate}`;
  const reject = `runbook reject ${id} ${g.gate} --comment "…"`;
  if (g.kind !== 'recovery') return [`    decide: ${approve}   |   ${reject}`];
  // Runs from before the gate counted its failures have no `suggested`: every action, retry first.
  const ev = (g.evidence ?? {}) as Partial<RecoveryEvidence>;
  const example = ev.corrections
    ? JSON.stringify(Object.fromEntries(Object.entries(ev.corrections).map(([field, what]) => [field, `<${what}>`])))
    : '{…}';
  const how: Record<RecoveryAction, string> = {
    retry: `${approve} (retry)`,
    correct: `${approve} --correction '${example}'`,
    skip: `${approve} --action skip --comment "…"`,
    abort: `${reject} (abort and undo)`,
  };
  const suggested = ev.suggested ?? ['retry', ...(g.skippable ? ['skip' as const] : []), 'abort'];
  return [
    `    decide: ${suggested.map((a) => how[a]).join('   |   ')}`,
    ...(ev.sameErrorAsLast ? [`    retry unchanged only if you fixed the cause outside this run: ${approve}`] : []),
  ];
}

function describeRun(run: RunView): string {
  const lines = [
    `${run.id}: ${run.status} (phase ${run.phase})`,
    `  runbook ${run.runbook} on ${run.target}, started by ${run.initiator} at ${run.startedAt}${run.closedAt ? `, closed ${run.closedAt}` : ''}`,
  ];
  const result = run.result as { summary?: string[] } | undefined;
  if (result?.summary) lines.push('', ...result.summary.map((l) => `  ${l}`));
  if (run.error) lines.push('', `  ${run.error}`);
  for (const g of run.pendingGates ?? []) {
    lines.push(
      '',
      `  WAITING at gate "${g.gate}" (plan ${g.planDigest}, deadline ${g.deadline}): ${g.prompt}`,
      `    approvals ${g.approvals.length} of ${g.policy.approvalsNeeded}; approvers ${g.policy.approvers.join(', ')}`,
      ...decideLines(run.id, g),
    );
    // The evidence as words (raw: runbook status --json).
    lines.push(
      '    evidence:',
      ...viewText(evidenceView(run.runbook, g.gate, g.evidence, { journal: run.journal }), '      '),
    );
  }
  if (run.awaiting) {
    lines.push(
      '',
      `  WAITING for the ${run.awaiting.input} note (deadline ${run.awaiting.deadline}): ${run.awaiting.prompt}`,
      `    write it: runbook root-cause ${run.id} --note "…"`,
    );
  }
  if (run.journal)
    lines.push(
      '',
      ...run.journal.map(
        (e) =>
          `  ${e.outcome.padEnd(8)} ${e.kind === 'step' ? '' : `${e.kind} `}${e.step}${e.kind !== 'step' ? ` (${e.actor})` : ''}${e.error ? `: ${e.error}` : e.comment ? `: ${e.comment}` : ''}`,
      ),
    );
  lines.push('', `  Temporal UI: ${run.uiUrl}`);
  return lines.join('\n');
}

function table(runs: RunSummary[]): string {
  if (runs.length === 0) return 'No runs.';
  const rows = runs.map((r) => [r.id, r.runbook, r.target, r.status, r.phase, r.initiator, r.startedAt]);
  const head = ['ID', 'RUNBOOK', 'TARGET', 'STATUS', 'PHASE', 'INITIATOR', 'STARTED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function scheduleTable(schedules: ScheduleView[]): string {
  if (schedules.length === 0)
    return 'No schedules. Create one: runbook schedule create db-access --target <name> --every 15m';
  const rows = schedules.map((s) => [
    s.id,
    s.runbook,
    s.target,
    s.every,
    s.paused ? 'paused' : 'active',
    s.nextRunAt ?? '-',
    s.note ?? '',
  ]);
  const head = ['ID', 'RUNBOOK', 'TARGET', 'EVERY', 'STATE', 'NEXT RUN', 'NOTE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function describeSchedule(s: ScheduleView): string {
  return [
    `${s.id}: ${s.runbook} on ${s.target} every ${s.every}, ${s.paused ? 'PAUSED' : 'active'}${s.note ? ` (${s.note})` : ''}`,
    `  created by ${s.createdBy}; runs ${s.signed ? 'signed by the API' : 'unsigned (the target must allow unsigned starts)'}${s.nextRunAt ? `; next run ${s.nextRunAt}` : ''}`,
    ...s.recentRuns.map((r) => `  ran ${r.id} (scheduled ${r.scheduledAt})`),
    `  runs: runbook ls --runbook ${s.runbook} --target ${s.target}`,
    `  Temporal UI: ${s.uiUrl}`,
  ].join('\n');
}

async function withBackendClient<T>(fn: (client: RunbookClient) => Promise<T>): Promise<T> {
  const client = await RunbookClient.connect(loadConfig());
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export function buildCli(): Command {
  const program = new Command('runbook')
    .description('Incident runbooks as durable Temporal workflows.')
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) });

  program
    .command('start')
    .description('Start a runbook on a target; prints the run id.')
    .argument('<runbook>', 'runbook name, e.g. db-access')
    .requiredOption('-t, --target <name>', 'target name from the targets file')
    .option('-i, --input <json>', 'runbook-specific input as a JSON object', parseJsonOption)
    .option('--dry-run', 'run read-only steps; report the destructive ones')
    .option('--as <person>', 'who starts it (default: your login name)')
    .option('--json', 'print JSON')
    .action(
      async (
        runbook: string,
        o: { target: string; input?: Record<string, unknown>; dryRun?: boolean; as?: string; json?: boolean },
      ) => {
        const started = await withBackend((b) =>
          b.start(runbook, { target: o.target, input: o.input, dryRun: o.dryRun }, o.as),
        );
        print(
          !!o.json,
          started,
          () => `Started ${started.id}\n  follow: runbook status ${started.id}\n  Temporal UI: ${started.uiUrl}`,
        );
      },
    );

  program
    .command('status')
    .description('Show a run: status, result or error, journal.')
    .argument('<id>', 'run id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const run = await withBackend((b) => b.status(id));
      print(!!o.json, run, () => describeRun(run));
    });

  program
    .command('ls')
    .description('List recent runs.')
    .option('--runbook <name>')
    .option('--target <name>')
    .addOption(
      new Option('--status <status>').choices(['running', 'waiting', 'completed', 'failed', 'aborted', 'timed-out']),
    )
    .option(
      '--limit <n>',
      'at most this many (1 to 1000)',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 1000)
          throw new InvalidArgumentError('It must be a whole number from 1 to 1000.');
        return n;
      },
      50,
    )
    .option('--json', 'print JSON')
    .action(
      async (o: {
        runbook?: string;
        target?: string;
        status?: RunSummary['status'];
        limit: number;
        json?: boolean;
      }) => {
        const runs = await withBackend((b) => b.list(o));
        print(!!o.json, { runs }, () => table(runs));
      },
    );

  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(`${decision === 'approve' ? 'Approve' : 'Reject'} a gate of a run.`)
      .argument('<id>', 'run id')
      .argument('<gate>', 'gate id (see runbook status)')
      .option('-c, --comment <text>', 'why')
      .option(
        '--plan-digest <digest>',
        "the plan you reviewed (default: the gate's plan, printed before the decision is sent)",
      )
      .option('--as <person>', 'who decides (direct to Temporal only; the API knows who you are)')
      .option('--role <role...>', 'roles claimed (direct to Temporal only; unsigned)')
      .addOption(
        new Option('--action <action>', 'recovery gates: retry the failed step or skip it').choices(['retry', 'skip']),
      )
      .option(
        '--correction <json>',
        'recovery gates: corrected input for the retried step, a JSON object',
        parseJsonOption,
      )
      .option('--json', 'print JSON')
      .action(
        async (
          id: string,
          gate: string,
          o: {
            comment?: string;
            planDigest?: string;
            as?: string;
            role?: string[];
            action?: 'retry' | 'skip';
            correction?: Record<string, unknown>;
            json?: boolean;
          },
        ) => {
          const view = await withBackend(async (b) => {
            // The CLI decides on a plan it has shown: the gate's prompt, evidence and digest go to stderr first.
            const planDigest = o.planDigest ?? showPlan(await b.status(id), gate, !!o.json);
            return b.decide(
              id,
              gate,
              { decision, comment: o.comment, planDigest, action: o.action, correction: o.correction },
              o.as,
              o.role,
            );
          });
          print(
            !!o.json,
            view,
            () =>
              `Gate "${gate}" of ${id}: ${view.status} (${view.approvals.length} of ${view.policy.approvalsNeeded} approvals).`,
          );
        },
      );
  }

  program
    .command('abort')
    .description('Break glass: stop a run; its compensations run and it ends in a known state.')
    .argument('<id>', 'run id')
    .requiredOption('-r, --reason <text>', 'why (journaled)')
    .option('--as <person>', 'who aborts (direct to Temporal only)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { reason: string; as?: string; json?: boolean }) => {
      await withBackend((b) => b.abort(id, o.reason, o.as));
      print(
        !!o.json,
        { id, aborting: true },
        () => `Aborting ${id}: compensations run, then it ends. Follow: runbook status ${id}`,
      );
    });

  program
    .command('root-cause')
    .description(
      'Give the root-cause note a repair run (migration-failed) asks for at its end; it goes into the timeline.',
    )
    .argument('<id>', 'run id')
    .requiredOption('-n, --note <text>', 'what caused the incident')
    .option('--as <person>', 'who writes it (direct to Temporal only)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { note: string; as?: string; json?: boolean }) => {
      await withBackend((b) => b.rootCause(id, o.note, o.as));
      print(!!o.json, { id, recorded: true }, () => `Root cause recorded on ${id}.`);
    });

  program
    .command('timeline')
    .description('The run as an incident timeline: Markdown for the ticket, or JSON.')
    .argument('<id>', 'run id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const t = await withBackend((b) => b.timeline(id, o.json ? 'json' : 'md'));
      console.log(o.json ? JSON.stringify(t, null, 2) : String(t));
    });

  program
    .command('replay')
    .description('Replay a recorded history against the current workflow code; reports determinism problems.')
    .argument('<file-or-id...>', 'history JSON files (temporal workflow show --output json) or run ids')
    .option('--json', 'print JSON')
    .action(async (sources: string[], o: { json?: boolean }) => {
      // The SDK's worker (to replay) is loaded only by this command.
      const { loadHistoryFile, quietRuntime, replay } = await import('./audit/replay.js');
      quietRuntime();
      const reports: ReplayReport[] = [];
      for (const source of sources) {
        const fromFile = /\.json$/.test(source);
        const history = fromFile
          ? loadHistoryFile(source)
          : await withBackendClient((c) => c.temporal.workflow.getHandle(source).fetchHistory());
        reports.push(await replay(history, source, { workflowsPath }));
      }
      print(!!o.json, { reports }, () =>
        reports
          .map((r) =>
            r.ok
              ? `OK    ${r.workflowId} (${r.workflowType}, ${r.events} events)`
              : `FAIL  ${r.workflowId} (${r.workflowType}): ${r.problem}`,
          )
          .join('\n'),
      );
      if (reports.some((r) => !r.ok)) process.exitCode = 1;
    });

  program
    .command('print')
    .description('Print a runbook as a numbered Markdown procedure (no Temporal needed: the manual fallback).')
    .argument('<runbook>', 'runbook name')
    .option('-t, --target <name>', 'fill in the commands for this target')
    .option('--json', 'print JSON')
    .action((runbook: string, o: { target?: string; json?: boolean }) => {
      const target = o.target ? { name: o.target, registry: TargetRegistry.load(loadConfig().targetsFile) } : undefined;
      print(!!o.json, procedureOf(runbook, target), () => renderProcedure(runbook, target));
    });

  program
    .command('new')
    .description(
      'Scaffold a runbook: src/runbooks/<name>/ (definition, steps, workflow, texts), its test, its catalogue entries.',
    )
    .argument('<name>', 'the runbook name, kebab-case (e.g. redis-health)')
    .option('--dir <path>', "the project's root", path.resolve(import.meta.dirname, '..'))
    .option('--json', 'print JSON')
    .action((name: string, o: { dir: string; json?: boolean }) => {
      const done = scaffoldRunbook(o.dir, name);
      print(!!o.json, done, () => describeScaffold(done));
    });

  const alerts = program
    .command('alerts')
    .description('Alerts that start runbooks.')
    .action(() => alerts.error('error: runbook alerts needs a subcommand: rules.'));
  alerts
    .command('rules')
    .description(
      "Print the Prometheus alerting rules for the targets file's targets (each labelled with the runbook and target it starts) as a rules file.",
    )
    .option('-t, --target <name>', 'only this target')
    .option('--json', 'print JSON')
    .action((o: { target?: string; json?: boolean }) => {
      const generated = generateRules(TargetRegistry.load(loadConfig().targetsFile), o.target);
      print(!!o.json, generated, () => rulesFile(generated).trimEnd());
    });

  const schedule = program
    .command('schedule')
    .description('Read-only checks that run on their own (Temporal Schedules, listed in the Temporal UI).')
    .action(() =>
      schedule.error('error: runbook schedule needs a subcommand: create, ls, pause, unpause, trigger, delete.'),
    );
  schedule
    .command('create')
    .description(
      'Run a read-only check on a target every interval; a run that finds a problem notifies the target (and escalates where it says so).',
    )
    .argument('<runbook>', 'a read-only runbook, e.g. db-access')
    .requiredOption('-t, --target <name>', 'target name from the targets file')
    .requiredOption('-e, --every <interval>', 'how often, e.g. 15m, 1h (at least 1m)')
    .option('-i, --input <json>', 'runbook-specific input as a JSON object', parseJsonOption)
    .option('--note <text>', 'shown with the schedule')
    .option('--as <person>', 'who creates it (direct to Temporal only)')
    .option('--json', 'print JSON')
    .action(
      async (
        runbook: string,
        o: {
          target: string;
          every: string;
          input?: Record<string, unknown>;
          note?: string;
          as?: string;
          json?: boolean;
        },
      ) => {
        const s = await withBackend((b) =>
          b.createSchedule(runbook, o.target, o.every, { input: o.input, note: o.note }, o.as),
        );
        print(
          !!o.json,
          s,
          () => `Scheduled ${s.id}\n${describeSchedule(s)}\n  run it now: runbook schedule trigger ${s.id}`,
        );
      },
    );
  schedule
    .command('ls')
    .description('List the scheduled checks.')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const schedules = await withBackend((b) => b.listSchedules());
      print(!!o.json, { schedules }, () => scheduleTable(schedules));
    });
  for (const [verb, what] of [
    ['pause', 'Pause'],
    ['unpause', 'Resume'],
  ] as const) {
    schedule
      .command(verb)
      .description(`${what} a scheduled check.`)
      .argument('<id>', 'schedule id (runbook schedule ls)')
      .option('--note <text>', 'why (shown with the schedule, in the Temporal UI too)')
      .option('--as <person>', 'who (direct to Temporal only)')
      .option('--json', 'print JSON')
      .action(async (id: string, o: { note?: string; as?: string; json?: boolean }) => {
        const s = await withBackend((b) =>
          verb === 'pause' ? b.pauseSchedule(id, o.note, o.as) : b.unpauseSchedule(id, o.note, o.as),
        );
        print(!!o.json, s, () => describeSchedule(s));
      });
  }
  schedule
    .command('trigger')
    .description('Run a scheduled check now (even while its previous run is still going).')
    .argument('<id>', 'schedule id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      await withBackend((b) => b.triggerSchedule(id));
      print(!!o.json, { id, triggered: true }, () => `Triggered ${id}: its run is named ${id}-<time> (runbook ls).`);
    });
  schedule
    .command('delete')
    .description('Delete a scheduled check; its past runs stay.')
    .argument('<id>', 'schedule id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      await withBackend((b) => b.deleteSchedule(id));
      print(!!o.json, { id, deleted: true }, () => `Deleted ${id}.`);
    });

  program
    .command('preflight')
    .description(
      "Check, before an incident, what the runbooks will need on a target: runs the preflight runbook on the target's worker and waits for it.",
    )
    .argument('<target>', 'target name from the targets file')
    .option('--wait <duration>', 'how long to wait for the run to end', '2m')
    .option('--as <person>', 'who starts it (default: your login name)')
    .option('--json', 'print JSON')
    .action(async (target: string, o: { wait: string; as?: string; json?: boolean }) => {
      // Through the worker, like every runbook: this process never reads the target's credentials.
      const waitMs = parseDuration(o.wait);
      const run = await withBackend(async (b) => {
        const started = await b.start('preflight', { target }, o.as);
        const deadline = Date.now() + waitMs;
        for (;;) {
          const view = await b.status(started.id);
          if (view.status !== 'running' && view.status !== 'waiting') return view;
          if (Date.now() > deadline)
            throw new Error(
              `The preflight run ${started.id} has not ended after ${o.wait}: is a worker running on the task queue (and the target's host worker, for its host-local checks)? Follow it: runbook status ${started.id}`,
            );
          await new Promise((r) => setTimeout(r, 300));
        }
      });
      const result = run.result as RunbookResult<{ checks: Array<{ check: string; ok: boolean }> }> | undefined;
      if (run.status !== 'completed' || !result)
        throw new Error(
          `The preflight run ${run.id} ${run.status}: ${run.error ?? 'no result'} (runbook status ${run.id})`,
        );
      print(!!o.json, { target, run: run.id, ok: result.healthy, checks: result.findings.checks }, () =>
        result.summary.join('\n'),
      );
      if (!result.healthy) process.exitCode = 1;
    });

  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    console.error(`runbook: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  }
}

if (isMain(import.meta.url)) await main();
