import { describe, expect, it } from 'vitest';
import { runbookCli } from './support/cli.js';

// Every verb with missing or wrong arguments: exits non-zero, says why in one line, shows the
// verb's usage, and contacts nothing (each is refused before any connection is made).
describe('runbook CLI refuses bad arguments', () => {
  const cases: Array<[string[], RegExp, string]> = [
    [['start', 'db-access'], /^error: required option '-t, --target <name>' not specified$/, 'runbook start'],
    [
      ['start', 'db-access', '--target', 'x', '--input', '{not json'],
      /^error: option '-i, --input <json>' argument '\{not json' is invalid\. It must be a JSON object, e\.g\. '\{"longTransactionSeconds": 60\}'\.$/,
      'runbook start',
    ],
    [['status'], /^error: missing required argument 'id'$/, 'runbook status'],
    [['status', 'x', '--limit', '3'], /^error: unknown option '--limit'$/, 'runbook status'],
    [
      ['ls', '--status', 'nope'],
      /^error: option '--status <status>' argument 'nope' is invalid\. Allowed choices are running, waiting/,
      'runbook ls',
    ],
    [
      ['ls', '--limit', 'abc'],
      /^error: option '--limit <n>' argument 'abc' is invalid\. It must be a whole number from 1 to 1000\.$/,
      'runbook ls',
    ],
    [['approve'], /^error: missing required argument 'id'$/, 'runbook approve'],
    [['reject', 'some-run'], /^error: missing required argument 'gate'$/, 'runbook reject'],
    [['abort', 'some-run'], /^error: required option '-r, --reason <text>' not specified$/, 'runbook abort'],
    [['root-cause', 'some-run'], /^error: required option '-n, --note <text>' not specified$/, 'runbook root-cause'],
    [['timeline'], /^error: missing required argument 'id'$/, 'runbook timeline'],
    [['replay'], /^error: missing required argument 'file-or-id'$/, 'runbook replay'],
    [['print'], /^error: missing required argument 'runbook'$/, 'runbook print'],
    [['alerts'], /^error: runbook alerts needs a subcommand: rules\.$/, 'runbook alerts'],
    [
      ['alerts', 'bogus'],
      /^error: too many arguments for 'alerts'\. Expected 0 arguments but got 1\.$/,
      'runbook alerts',
    ],
    [['preflight'], /^error: missing required argument 'target'$/, 'runbook preflight'],
    [['bogus'], /^error: unknown command 'bogus'$/, 'runbook [options] [command]'],
  ];

  it.each(cases)('runbook %j', async (args, reason, usage) => {
    // An address nothing answers: a verb that tried to connect would say so instead.
    const r = await runbookCli(args, { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(r.code).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(reason);
    expect(r.stderr).toContain(`Usage: ${usage}`);
    expect(r.stderr).not.toContain('Cannot reach Temporal');
    expect(r.stdout).toBe('');
  });
});
