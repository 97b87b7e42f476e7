import { findRunbook } from './runbooks.js';
import type { TargetRegistry, TargetSpec } from './targets.js';
import { procedures } from './workflows/procedures.js';

/**
 * `runbook print <runbook> [--target X]`: the runbook as a numbered Markdown procedure, from the
 * same declarations the workflow runs. Needs no Temporal: the fallback when orchestration is down.
 */

type Commands = (t: TargetSpec, name: string) => string[];

const psql = (t: TargetSpec, sql: string) => {
  const pg = t.postgres;
  if (!pg) return [];
  const pw = pg.passwordEnv ? `PGPASSWORD="$${pg.passwordEnv}" ` : '';
  return [`${pw}psql "host=${pg.host} port=${pg.port} dbname=${pg.database} user=${pg.user}" -Atc "${sql}"`];
};
const alembic = (t: TargetSpec, args: string) => {
  const a = t.alembic;
  if (!a) return ['(the target names no alembic directory: skipped)'];
  return [`cd ${a.dir} && ${a.urlEnv}=<the database URL> ${a.python} -m alembic -c ${a.config} ${args}`];
};

const commands: Record<string, Commands> = {
  'resolve-target': (_t, name) => [`look up "${name}" in the targets file`],
  'select-1': (t) => [...psql(t, 'select 1'), ...psql(t, "select current_setting('server_version')")],
  connections: (t) => psql(t, "select current_setting('max_connections'), count(*) from pg_stat_activity where backend_type = 'client backend'"),
  'applied-revision': (t) => psql(t, 'select version_num from alembic_version'),
  'alembic-heads': (t) => [...alembic(t, 'heads'), ...alembic(t, 'history')],
  'long-transactions': (t) => psql(t, "select pid, usename, state, now() - xact_start from pg_stat_activity where now() - xact_start > interval '300 seconds'"),
  'blocking-locks': (t) => psql(t, 'select pid, pg_blocking_pids(pid), left(query, 80) from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0'),
  'record-decision': () => ['note who approved, when, and how (nothing is changed)'],
  'lock-target': (_t, name) => [`make sure nobody else is changing ${name}: announce it in the incident channel`],
};

/** The procedure as data: each item with the commands it runs on the target (when one is named). */
export function procedureOf(runbook: string, target?: { name: string; registry: TargetRegistry }) {
  const def = findRunbook(runbook);
  const spec = target ? target.registry.spec(target.name) : undefined;
  const steps = (procedures[runbook] ?? []).map((item) => ({
    ...item,
    commands: spec && item.kind === 'step' ? (commands[item.id]?.(spec, target!.name) ?? []) : [],
  }));
  return { runbook: def.name, description: def.description, changesTarget: def.mutates, target: target?.name, steps };
}

export function renderProcedure(runbook: string, target?: { name: string; registry: TargetRegistry }): string {
  const def = findRunbook(runbook);
  const { steps } = procedureOf(runbook, target);
  const spec = target ? target.registry.spec(target.name) : undefined;
  const lines = [`# ${def.name}${target ? ` on ${target.name}` : ''}`, '', def.description, ''];
  if (!def.mutates) lines.push('Read-only: changes nothing on the target.', '');
  steps.forEach((item, i) => {
    const marks = [item.kind === 'gate' ? '⛔ approval gate' : '', item.onlyWith ? `only with ${item.onlyWith}` : '', item.changes ? 'changes the target' : '', item.hostLocal ? `on the app host${spec?.taskQueue ? ` (worker queue ${spec.taskQueue})` : ''}` : ''].filter(Boolean);
    lines.push(`${i + 1}. **${item.id}**${marks.length ? ` (${marks.join('; ')})` : ''}: ${item.title}`);
    const cmds = item.commands;
    if (item.kind === 'gate') lines.push('   Decide: `runbook approve <id> ' + item.id + '` or `runbook reject <id> ' + item.id + ' --comment "…"`.');
    if (cmds.length) lines.push('', '   ```sh', ...cmds.map((c) => `   ${c}`), '   ```', '');
  });
  lines.push('', 'Write down each change with its time, and the root cause, in the incident ticket.', '');
  return lines.join('\n');
}
