import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import pg from 'pg';
import { runAlembic } from './alembic.js';
import { childEnv, LIBPQ_VARS } from './child-env.js';
import { TargetRegistry, type PgConnection, type TargetSpec } from '../targets.js';
import { redact } from '../util/redact.js';

/**
 * The preflight runbook's checks (src/runbooks/preflight/): what the runbooks will need, checked
 * before an incident does. Runs on the target's host worker (its taskQueue), where the host-local
 * steps run; details name hosts and commands, never a credential.
 */

export interface TargetCheck {
  check: string;
  ok: boolean;
  detail: string;
  /** What to do when it fails. */
  fix?: string;
}

export async function preflight(targets: TargetRegistry, name: string): Promise<TargetCheck[]> {
  const spec = targets.spec(name);
  const checks: TargetCheck[] = [];
  if (spec.postgres) checks.push(...(await postgresChecks(targets, name, spec)));
  if (spec.redis) checks.push(await redisCheck(targets, name));
  for (const [service, def] of Object.entries(spec.services ?? {})) checks.push(await serviceCheck(service, def));
  if (checks.length === 0)
    checks.push({
      check: 'target',
      ok: false,
      detail: `Target "${name}" names nothing to check.`,
      fix: `Add a postgres, redis or services section to ${targets.file}.`,
    });
  return checks;
}

async function postgresChecks(targets: TargetRegistry, name: string, spec: TargetSpec): Promise<TargetCheck[]> {
  let conn: PgConnection;
  try {
    conn = targets.postgres(name);
  } catch (err) {
    return [{ check: 'connect', ok: false, detail: (err as Error).message }];
  }
  const where = `${conn.host}:${conn.port}/${conn.database} as ${conn.user}`;
  const client = new pg.Client({
    ...conn,
    connectionTimeoutMillis: 5000,
    application_name: 'durable-runbooks-preflight',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    return [
      {
        check: 'connect',
        ok: false,
        detail: `Cannot connect to ${where}: ${redact((err as Error).message, [conn.password])}`,
        fix: `Check host, port, database and user in ${targets.file}${spec.postgres?.passwordEnv ? ` and the password in ${spec.postgres.passwordEnv}` : ''}.`,
      },
    ];
  }
  const checks: TargetCheck[] = [];
  let serverMajor = 0;
  try {
    const { rows } = await client.query<{
      v: string;
      sup: boolean;
      createdb: boolean;
      owner: boolean;
      signal: boolean;
    }>(
      `select current_setting('server_version_num') as v, r.rolsuper as sup, r.rolcreatedb as createdb,
              pg_has_role(current_user, d.datdba, 'member') as owner,
              pg_has_role(current_user, 'pg_signal_backend', 'member') as signal
         from pg_roles r, pg_database d where r.rolname = current_user and d.datname = current_database()`,
    );
    const r = rows[0]!;
    serverMajor = Math.floor(Number(r.v) / 10000);
    checks.push({ check: 'connect', ok: true, detail: `Connected to ${where} (PostgreSQL ${serverMajor}).` });
    checks.push({
      check: 'privilege: CREATEDB',
      ok: r.sup || r.createdb,
      detail: r.sup
        ? 'superuser'
        : r.createdb
          ? 'CREATEDB granted'
          : `${conn.user} cannot create databases (needed for snapshots, rehearsal clones and scratch restores).`,
      fix: `ALTER ROLE ${conn.user} CREATEDB;`,
    });
    checks.push({
      check: 'privilege: database owner',
      ok: r.sup || r.owner,
      detail: r.sup
        ? 'superuser'
        : r.owner
          ? `${conn.user} owns (or is a member of the owner of) ${conn.database}`
          : `${conn.user} does not own ${conn.database} (needed to rename it in a restore swap and to set it read-only).`,
      fix: `ALTER DATABASE ${conn.database} OWNER TO ${conn.user}; or GRANT <owner role> TO ${conn.user};`,
    });
    checks.push({
      check: 'privilege: end sessions',
      ok: r.sup || r.signal || r.owner,
      detail: r.sup
        ? 'superuser'
        : r.signal
          ? 'member of pg_signal_backend'
          : r.owner
            ? 'may end sessions of its own roles only'
            : `${conn.user} cannot end other sessions (needed to freeze writes).`,
      fix: `GRANT pg_signal_backend TO ${conn.user};`,
    });
  } finally {
    await client.end().catch(() => undefined);
  }
  for (const tool of ['pg_dump', 'pg_restore']) checks.push(await toolVersionCheck(tool, serverMajor));
  if (spec.alembic) checks.push(await alembicUrlCheck(targets, name, conn));
  return checks;
}

async function toolVersionCheck(tool: string, serverMajor: number): Promise<TargetCheck> {
  const r = await execa(tool, ['--version'], {
    env: childEnv({}, { pass: LIBPQ_VARS }),
    extendEnv: false,
    reject: false,
  });
  const major = Number(/(\d+)(?:\.\d+)?/.exec(r.stdout ?? '')?.[1] ?? NaN);
  if (r.failed || Number.isNaN(major)) {
    return {
      check: `${tool} version`,
      ok: false,
      detail: `${tool} is not installed on this machine.`,
      fix: `Install the PostgreSQL client tools of version ${serverMajor} or newer (Debian: postgresql-client-${serverMajor}).`,
    };
  }
  return {
    check: `${tool} version`,
    ok: major >= serverMajor,
    detail: `${tool} ${major} for server ${serverMajor}${major >= serverMajor ? '' : ': older than the server, it would refuse to dump it'}`,
    fix: `Install postgresql-client-${serverMajor} (or newer) and put its bin directory first on PATH.`,
  };
}

/**
 * Proves the app's env.py takes its URL from `urlEnv`: a scratch database stamped with a revision
 * nobody has must be the one `alembic current` reads; otherwise a runbook would act on whatever
 * database alembic.ini names. (An empty scratch database alone proves less: "no revision" is also
 * what an unrelated empty database shows.)
 */
export async function alembicUrlCheck(targets: TargetRegistry, name: string, conn: PgConnection): Promise<TargetCheck> {
  const urlEnv = targets.spec(name).alembic!.urlEnv;
  const check = `alembic env.py honours ${urlEnv}`;
  const scratch = `rb_preflight_${randomBytes(4).toString('hex')}`;
  const nonce = `preflight_${randomBytes(6).toString('hex')}`;
  const admin = async (database: string, sql: string) => {
    // Our sessions stay writable through a read-only freeze (a repair runs this check on a frozen database).
    const c = new pg.Client({
      ...conn,
      database,
      connectionTimeoutMillis: 5000,
      options: '-c default_transaction_read_only=off',
    });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  try {
    await admin('postgres', `create database ${scratch}`);
  } catch (err) {
    return {
      check,
      ok: false,
      detail: `Could not create a scratch database to test it: ${redact((err as Error).message, [conn.password])}`,
      fix: `ALTER ROLE ${conn.user} CREATEDB;`,
    };
  }
  try {
    await admin(
      scratch,
      `create table alembic_version (version_num varchar(64) primary key); insert into alembic_version values ('${nonce}')`,
    );
    const r = await runAlembic(targets, name, ['current'], { database: scratch, timeoutMs: 60_000 });
    const output = `${r.stdout}\n${r.stderr}`;
    if (output.includes(nonce))
      return { check, ok: true, detail: `alembic current read the scratch database named by ${urlEnv}.` };
    return {
      check,
      ok: false,
      detail: `alembic current did not use ${urlEnv}: pointed at scratch database ${scratch}, it read another database (exit ${r.exitCode}${r.stdout.trim() ? `, printed "${r.stdout.trim().split('\n')[0]}"` : ''}). A runbook would act on whatever database alembic.ini names.`,
      fix: `Make env.py read the URL from os.environ["${urlEnv}"] (or set alembic.urlEnv in ${targets.file} to the variable it does read).`,
    };
  } catch (err) {
    return {
      check,
      ok: false,
      detail: redact((err as Error).message, [conn.password]),
      fix: 'Check alembic.dir, alembic.config and alembic.python in the targets file.',
    };
  } finally {
    await admin('postgres', `drop database if exists ${scratch} with (force)`).catch(() => undefined);
  }
}

async function redisCheck(targets: TargetRegistry, name: string): Promise<TargetCheck> {
  const display = targets.spec(name).redis!.url.replace(/\/\/[^@]*@/, '//');
  let redis: Redis | undefined;
  try {
    redis = new Redis(targets.redisUrl(name), {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    await redis.connect();
    const pong = await redis.ping();
    return { check: 'redis ping', ok: pong === 'PONG', detail: `${display} answered ${pong}` };
  } catch (err) {
    return {
      check: 'redis ping',
      ok: false,
      detail: `${display}: ${redact((err as Error).message)}`,
      fix: 'Check that Redis runs and the URL (and passwordEnv) in the targets file.',
    };
  } finally {
    redis?.disconnect();
  }
}

type ServiceSpec = NonNullable<TargetSpec['services']>[string];

async function serviceCheck(service: string, def: ServiceSpec): Promise<TargetCheck> {
  const [tool, fix] =
    'systemd' in def
      ? ['systemctl', 'Run this worker on the host where the unit is installed (systemd).']
      : 'compose' in def
        ? ['docker', 'Install the Docker CLI with the compose plugin on this host.']
        : [
            def.command.start.trim().split(/\s+/)[0]!,
            'Install the command or fix services.<name>.command in the targets file.',
          ];
  const found = await execa('sh', ['-c', `command -v "$1"`, 'sh', tool], {
    env: childEnv(),
    extendEnv: false,
    reject: false,
  });
  return {
    check: `service ${service}: ${tool}`,
    ok: found.exitCode === 0,
    detail: found.exitCode === 0 ? `${tool} found at ${found.stdout.trim()}` : `${tool} is not on PATH here.`,
    fix,
  };
}
