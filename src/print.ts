import { findRunbook } from './runbooks/catalogue.js';
import type { TargetRegistry, TargetSpec } from './targets.js';

/**
 * `runbook print <runbook> [--target X]`: the runbook as a numbered Markdown procedure, from the
 * same declarations the workflow runs. Needs no Temporal: the fallback when orchestration is down.
 */

type Commands = (t: TargetSpec, name: string) => string[];

const psqlOn = (t: TargetSpec, database: string | undefined, sql: string) => {
  const pg = t.postgres;
  if (!pg) return [];
  const pw = pg.passwordEnv ? `PGPASSWORD="$${pg.passwordEnv}" ` : '';
  return [
    `${pw}psql "host=${pg.host} port=${pg.port} dbname=${database ?? pg.database} user=${pg.user}" -Atc "${sql}"`,
  ];
};
const psql = (t: TargetSpec, sql: string) => psqlOn(t, undefined, sql);
/** Statements on the maintenance database (the ones that act on the live database as a whole). */
const admin = (t: TargetSpec, ...sql: string[]) => sql.flatMap((q) => psqlOn(t, 'postgres', q));
const db = (t: TargetSpec) => t.postgres?.database ?? '<database>';
const own = "PGOPTIONS='-c default_transaction_read_only=off' ";
const rehearse = (what: string) => (t: TargetSpec) => [
  ...admin(t, `CREATE DATABASE ${db(t)}_clone TEMPLATE ${db(t)}_snap STRATEGY FILE_COPY`),
  ...alembic(t, `${what}   # with the URL of ${db(t)}_clone`),
  `# compare: pg_dump --schema-only ${db(t)}_clone vs a scratch database upgraded to the same revision from nothing`,
  ...admin(t, `DROP DATABASE ${db(t)}_clone`),
];
const swap = (kept: string) => (t: TargetSpec) => [
  ...admin(
    t,
    `ALTER DATABASE ${db(t)} ALLOW_CONNECTIONS false`,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db(t)}'`,
  ),
  ...admin(
    t,
    `BEGIN; ALTER DATABASE ${db(t)} RENAME TO ${db(t)}_${kept}_$(date +%Y%m%d%H%M%S); ALTER DATABASE <replacement> RENAME TO ${db(t)}; COMMIT;`,
  ),
  '# then put back what record-settings noted: ALTER DATABASE … OWNER TO, GRANT … ON DATABASE, ALTER DATABASE … SET, ALLOW_CONNECTIONS, CONNECTION LIMIT',
];
const alembic = (t: TargetSpec, args: string) => {
  const a = t.alembic;
  if (!a) return ['(the target names no alembic directory: skipped)'];
  return [`cd ${a.dir} && ${a.urlEnv}=<the database URL> ${a.python} -m alembic -c ${a.config} ${args}`];
};
/** redis-cli against the target's Redis, its password from the variable the targets file names (never inline). */
const redisCli = (t: TargetSpec, ...args: string[]) => {
  const r = t.redis;
  if (!r) return ['(the target names no redis section: skipped)'];
  const auth = r.passwordEnv ? `REDISCLI_AUTH="$${r.passwordEnv}" ` : '';
  const url = r.url.replace(/\/\/[^@]*@/, '//');
  return args.map((a) => `${auth}redis-cli -u ${url} ${a}`);
};

const commands: Record<string, Commands> = {
  'resolve-target': (_t, name) => [`look up "${name}" in the targets file`],
  'redis-ping': (t) => redisCli(t, 'ping', 'info server'),
  'redis-memory': (t) => redisCli(t, 'info memory', 'info stats | grep evicted_keys'),
  'redis-clients': (t) => redisCli(t, 'info clients'),
  'redis-slowlog': (t) => [
    ...redisCli(t, 'slowlog get 128'),
    '# read the command names and durations only: the arguments may hold secrets, never paste them',
  ],
  'select-1': (t) => [...psql(t, 'select 1'), ...psql(t, "select current_setting('server_version')")],
  connections: (t) =>
    psql(
      t,
      "select current_setting('max_connections'), count(*) from pg_stat_activity where backend_type = 'client backend'",
    ),
  'applied-revision': (t) => psql(t, 'select version_num from alembic_version'),
  'alembic-heads': (t) => [...alembic(t, 'heads'), ...alembic(t, 'history')],
  'long-transactions': (t) =>
    psql(
      t,
      "select pid, usename, state, now() - xact_start from pg_stat_activity where now() - xact_start > interval '300 seconds'",
    ),
  'blocking-locks': (t) =>
    psql(
      t,
      'select pid, pg_blocking_pids(pid), left(query, 80) from pg_stat_activity where cardinality(pg_blocking_pids(pid)) > 0',
    ),
  'tcp-probe': (t) =>
    t.app
      ? [
          `nc -zv -w 5 ${new URL(t.app.url).hostname} ${new URL(t.app.url).port || (t.app.url.startsWith('https') ? 443 : 80)}`,
        ]
      : [],
  'http-ready': (t) => (t.app ? [`curl -s -i ${new URL(t.app.ready, t.app.url)}`] : []),
  ready: (t) => (t.app ? [`curl -s -i ${new URL(t.app.ready, t.app.url)}`] : []),
  metrics: (t) => (t.app ? [`curl -s ${new URL(t.app.metrics, t.app.url)} | grep -E '^# TYPE'`] : []),
  'request-id': (t) =>
    t.app
      ? [
          `curl -s -o /dev/null -D - -H '${t.app.requestIdHeader}: rb-check-1' ${new URL(t.app.ready, t.app.url)}`,
          `grep rb-check-1 ${t.app.logFile ?? '<the app log>'}`,
        ]
      : [],
  'port-mapping': (t) =>
    t.app?.compose
      ? [
          `grep -A5 'ports:' ${t.app.compose.file}   # service ${t.app.compose.service} must publish "${new URL(t.app.url).port}:${t.app.compose.containerPort ?? new URL(t.app.url).port}"`,
        ]
      : [],
  recreate: (t) =>
    t.app?.compose
      ? [`docker compose -f ${t.app.compose.file} up -d --no-deps --force-recreate ${t.app.compose.service}`]
      : t.app?.service
        ? [`restart service ${t.app.service} (see its driver in the targets file)`]
        : [],
  'detect-files': (t) =>
    (t.app?.files ?? []).map((f) =>
      t.app?.container
        ? `docker exec ${t.app.container.name} sha256sum ${t.app.container.workdir}/${f.path}   # vs sha256sum ${f.source}`
        : `sha256sum ${t.app?.dir}/${f.path} ${f.source}`,
    ),
  'copy-files': (t) =>
    (t.app?.files ?? []).map((f) =>
      t.app?.container
        ? `docker cp ${f.source} ${t.app.container.name}:${t.app.container.workdir}/${f.path}`
        : `cp ${f.source} ${t.app?.dir}/${f.path}`,
    ),
  inspect: (t) => {
    const origin = t.pwa?.url ?? t.app?.url;
    if (!t.pwa || !origin) return [];
    const base = new URL(t.pwa.basePath, origin).toString();
    return [
      `curl -s ${new URL(t.pwa.versionPath, base)}   # expect ${t.pwa.expectedVersion ?? '<the new version>'}`,
      `curl -sI ${base} | grep -i cache-control   # want no-cache`,
      `curl -sI ${new URL(t.pwa.serviceWorker, base)} | grep -i cache-control   # want no-cache`,
      `curl -s ${base} | grep -oE '(src|href)="[^"]+"'   # each under ${t.pwa.basePath}, each 200`,
    ];
  },
  'redeploy-build': (t) =>
    t.pwa?.redeploy
      ? [`# the redeploy command from the targets file (pwa.redeploy), with VITE_BASE_PATH=${t.pwa.basePath}`]
      : [],
  'record-decision': () => ['note who approved, when, and how (nothing is changed)'],
  'lock-target': (_t, name) => [`make sure nobody else is changing ${name}: announce it in the incident channel`],
  preflight: (t) => [
    ...psql(t, 'select rolcreatedb, rolsuper from pg_roles where rolname = current_user'),
    ...psql(t, 'select version_num from alembic_version'),
    ...alembic(t, 'history'),
  ],
  evidence: (t) => [
    ...psql(t, 'select version_num from alembic_version'),
    `# compare pg_dump --schema-only ${db(t)} with a scratch database upgraded to that revision from nothing`,
  ],
  freeze: (t) => [
    ...admin(
      t,
      `ALTER DATABASE ${db(t)} SET default_transaction_read_only = on`,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db(t)}' AND pid <> pg_backend_pid()`,
    ),
    `# prove it: as the app's role (${t.postgres?.appUser ?? 'the app user'}) this must fail with "read-only transaction":`,
    `psql "host=${t.postgres?.host} dbname=${db(t)} user=${t.postgres?.appUser ?? '<app user>'}" -c "create temp table probe (x int)"`,
  ],
  unfreeze: (t) => admin(t, `ALTER DATABASE ${db(t)} RESET default_transaction_read_only`),
  'record-settings': (t) =>
    admin(
      t,
      `SELECT pg_get_userbyid(datdba), datacl, datallowconn, datconnlimit FROM pg_database WHERE datname = '${db(t)}'`,
      `SELECT setrole, setconfig FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = '${db(t)}')`,
    ),
  snapshot: (t) =>
    admin(
      t,
      `ALTER DATABASE ${db(t)} ALLOW_CONNECTIONS false`,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db(t)}'`,
      `CREATE DATABASE ${db(t)}_snap TEMPLATE ${db(t)} STRATEGY FILE_COPY`,
      `ALTER DATABASE ${db(t)} ALLOW_CONNECTIONS true`,
    ),
  dump: (t) => [
    `${own}pg_dump -h ${t.postgres?.host} -U ${t.postgres?.user} --format=directory --jobs=2 --file=${t.backups?.dir ?? '<backups dir>'}/${db(t)}_snap ${db(t)}_snap`,
    `(cd ${t.backups?.dir ?? '<backups dir>'}/${db(t)}_snap && sha256sum * > SHA256SUMS && chmod 600 *) && pg_restore --list ${t.backups?.dir ?? '<backups dir>'}/${db(t)}_snap > /dev/null`,
  ],
  'rehearse-upgrade': rehearse('upgrade <toRevision>'),
  'rehearse-downgrade': rehearse('downgrade <toRevision>'),
  'apply-upgrade': (t) => alembic(t, "upgrade <toRevision>   # with PGOPTIONS='-c default_transaction_read_only=off'"),
  'apply-downgrade': (t) =>
    alembic(t, "downgrade <toRevision>   # with PGOPTIONS='-c default_transaction_read_only=off'"),
  'apply-reapply': (t) => alembic(t, 'upgrade head'),
  verify: (t) => [
    ...psql(t, 'select version_num from alembic_version'),
    `# compare pg_dump --schema-only ${db(t)} with a fresh build of <toRevision>`,
  ],
  smoke: (t) =>
    (t.smoke ?? []).flatMap((c) =>
      'sql' in c
        ? psql(t, c.sql).map((x) => `${x}   # expect ${c.expect}`)
        : [`curl -s -o /dev/null -w '%{http_code}' ${c.http}   # expect ${c.expect}`],
    ),
  'swap-back': swap('failed'),
  'swap-in': swap('pre_restore'),
  'rollback-evidence': (t) => [
    `# per table: select count(*), max(id) in ${db(t)} and in ${db(t)}_snap: rows beyond the snapshot's max(id) are lost by the rollback`,
  ],
  'restore-evidence': (t) => [
    `# per table: select count(*), max(id) in ${db(t)} and in the restored copy: rows beyond its max(id) are lost by the restore`,
  ],
  'restore-source': (t) => [
    ...admin(t, `CREATE DATABASE ${db(t)}_scratch TEMPLATE template0`),
    `${own}pg_restore --exit-on-error --jobs=2 --dbname=${db(t)}_scratch <backup>   # plain SQL, its psql meta-commands refused: { printf '%s\\n' "\\\\restrict $(openssl rand -hex 16)"; grep -Ev '^\\\\(un)?restrict [A-Za-z0-9]+$' <backup.sql>; } | psql -X -v ON_ERROR_STOP=1 --single-transaction -d ${db(t)}_scratch -f -`,
  ],
};

/** The procedure as data: each item with the commands it runs on the target (when one is named). */
export function procedureOf(runbook: string, target?: { name: string; registry: TargetRegistry }) {
  const def = findRunbook(runbook);
  const spec = target ? target.registry.spec(target.name) : undefined;
  const steps = def.steps.map((item) => ({
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
    const marks = [
      item.kind === 'gate' ? '⛔ approval gate' : '',
      item.onlyWith ? `only with ${item.onlyWith}` : '',
      item.changes ? 'changes the target' : '',
      item.hostLocal ? `on the app host${spec?.taskQueue ? ` (worker queue ${spec.taskQueue})` : ''}` : '',
    ].filter(Boolean);
    lines.push(`${i + 1}. **${item.id}**${marks.length ? ` (${marks.join('; ')})` : ''}: ${item.title}`);
    const cmds = item.commands;
    if (item.kind === 'gate')
      lines.push(
        '   Decide: `runbook approve <id> ' + item.id + '` or `runbook reject <id> ' + item.id + ' --comment "…"`.',
      );
    if (cmds.length) lines.push('', '   ```sh', ...cmds.map((c) => `   ${c}`), '   ```', '');
  });
  lines.push('', 'Write down each change with its time, and the root cause, in the incident ticket.', '');
  return lines.join('\n');
}
