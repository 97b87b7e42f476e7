/**
 * The environment of every process an activity starts. The worker's own environment holds every
 * target's passwords, the payload key and the decision keys; a child gets none of it unless named:
 * a base any program expects (where programs are, home, user, locale, time zone, temp dir), the
 * worker-wide names in RUNBOOK_CHILD_ENV (a proxy, a CA bundle), the names in `pass` (the
 * target's passEnv, a tool's own settings such as DOCKER_HOST), then `extra`: the values the
 * child needs set (PGPASSWORD for the pg tools, the app's URL variable for alembic …).
 */

const BASE = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'];
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
/** The worker's own keys: no child gets them, whatever a list names. */
const NEVER = new Set(['RUNBOOK_PAYLOAD_KEY', 'RUNBOOK_PAYLOAD_OLD_KEYS', 'RUNBOOK_DECISION_KEY']);

/** What the docker CLI and compose read to find their engine; passed to them, and to nothing else. */
export const DOCKER_VARS = [
  'DOCKER_HOST',
  'DOCKER_CONTEXT',
  'DOCKER_CONFIG',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS_VERIFY',
  'CONTAINER_HOST',
  'COMPOSE_PROJECT_NAME',
];

/** How libpq finds TLS files and service/password files (never a password): passed to the pg tools. */
export const LIBPQ_VARS = [
  'PGSSLMODE',
  'PGSSLROOTCERT',
  'PGSSLCERT',
  'PGSSLKEY',
  'PGSSLCRL',
  'PGPASSFILE',
  'PGSERVICEFILE',
  'PGSYSCONFDIR',
  'PGGSSENCMODE',
  'PGKRBSRVNAME',
];

/** The variable names RUNBOOK_CHILD_ENV lists (comma-separated); a malformed name is not a name. */
export function childEnvNames(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => VARIABLE.test(s));
}

export function childEnv(
  extra: Record<string, string | undefined> = {},
  opts: { pass?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Record<string, string> {
  const env = opts.env ?? process.env;
  const out: Record<string, string> = {};
  const names = [
    ...BASE,
    ...Object.keys(env).filter((k) => k.startsWith('LC_')),
    ...childEnvNames(env.RUNBOOK_CHILD_ENV),
    ...(opts.pass ?? []),
  ];
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && !NEVER.has(name)) out[name] = value;
  }
  out.PATH ??= DEFAULT_PATH;
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) out[name] = value;
  return out;
}
