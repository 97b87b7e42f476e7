import os from 'node:os';
import { Command, Option } from 'commander';
import { RunbookClient, type RunSummary, type RunView } from './client.js';
import { loadConfig } from './config.js';
import { formatChecks, preflight } from './preflight.js';
import { TargetRegistry } from './targets.js';
import { isMain } from './util/main.js';

/** The `runbook` command: parse, call client.ts, print. `--json` everywhere for scripts. */

const print = (json: boolean, data: unknown, human: () => string) => console.log(json ? JSON.stringify(data, null, 2) : human());

async function withClient<T>(fn: (client: RunbookClient) => Promise<T>): Promise<T> {
  const client = await RunbookClient.connect(loadConfig());
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function parseJsonOption(value: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new Error(`--input must be a JSON object, e.g. --input '{"longTransactionSeconds": 60}'; got ${value}`);
  }
}

function describeRun(run: RunView): string {
  const lines = [
    `${run.id}: ${run.status} (phase ${run.phase})`,
    `  runbook ${run.runbook} on ${run.target}, started by ${run.initiator} at ${run.startedAt}${run.closedAt ? `, closed ${run.closedAt}` : ''}`,
  ];
  const result = run.result as { summary?: string[] } | undefined;
  if (result?.summary) lines.push('', ...result.summary.map((l) => `  ${l}`));
  if (run.error) lines.push('', `  ${run.error}`);
  if (run.journal) lines.push('', ...run.journal.map((e) => `  ${e.outcome.padEnd(7)} ${e.step}${e.error ? `: ${e.error}` : ''}`));
  lines.push('', `  Temporal UI: ${run.uiUrl}`);
  return lines.join('\n');
}

function table(runs: RunSummary[]): string {
  if (runs.length === 0) return 'No runs.';
  const rows = runs.map((r) => [r.id, r.runbook, r.target, r.status, r.phase, r.initiator, r.startedAt]);
  const head = ['ID', 'RUNBOOK', 'TARGET', 'STATUS', 'PHASE', 'INITIATOR', 'STARTED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
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
    .action(async (runbook: string, o: { target: string; input?: Record<string, unknown>; dryRun?: boolean; as?: string; json?: boolean }) => {
      const started = await withClient((c) =>
        c.start(runbook, { target: o.target, input: o.input, dryRun: o.dryRun, initiator: o.as ?? os.userInfo().username }),
      );
      print(!!o.json, started, () => `Started ${started.id}\n  follow: runbook status ${started.id}\n  Temporal UI: ${started.uiUrl}`);
    });

  program
    .command('status')
    .description('Show a run: status, result or error, journal.')
    .argument('<id>', 'run id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const run = await withClient((c) => c.status(id));
      print(!!o.json, run, () => describeRun(run));
    });

  program
    .command('ls')
    .description('List recent runs.')
    .option('--runbook <name>')
    .option('--target <name>')
    .addOption(new Option('--status <status>').choices(['running', 'waiting', 'completed', 'failed', 'aborted', 'timed-out']))
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .option('--json', 'print JSON')
    .action(async (o: { runbook?: string; target?: string; status?: RunSummary['status']; limit: number; json?: boolean }) => {
      const runs = await withClient((c) => c.list(o));
      print(!!o.json, { runs }, () => table(runs));
    });

  program
    .command('preflight')
    .description('Check, before an incident, what the runbooks will need on a target.')
    .argument('<target>', 'target name from the targets file')
    .option('--json', 'print JSON')
    .action(async (target: string, o: { json?: boolean }) => {
      const checks = await preflight(TargetRegistry.load(loadConfig().targetsFile), target);
      const failed = checks.filter((c) => !c.ok).length;
      print(!!o.json, { target, ok: failed === 0, checks }, () => `${formatChecks(checks)}\n\n${failed === 0 ? 'All checks passed.' : `${failed} check(s) failed.`}`);
      if (failed > 0) process.exitCode = 1;
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
