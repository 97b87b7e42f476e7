import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';

/**
 * Temporal's persistence and SQL visibility, each in its own PostgreSQL database, set up the way
 * Temporal's docs do it: `temporal-sql-tool create-database`, `setup-schema -v 0.0` (the version
 * tables), `update-schema -d <versioned dir>` (every migration up to this server's). Each step is
 * safe to run again: an existing database is kept and the schema updates from where it stands.
 */

export interface PostgresOptions {
  host?: string;
  port?: number;
  user?: string;
  /** Passed to the tool in its environment (SQL_PASSWORD), never on its command line. */
  password?: string;
}

export interface TemporalDatabases {
  /** Workflow state; default `runbooks_temporal`. */
  persistence: string;
  /** What List Workflows and search attributes query; default `runbooks_temporal_visibility`. */
  visibility: string;
}

export const DEFAULT_DATABASES: TemporalDatabases = {
  persistence: 'runbooks_temporal',
  visibility: 'runbooks_temporal_visibility',
};

export function postgresDefaults(
  opts: PostgresOptions = {},
): Required<Omit<PostgresOptions, 'password'>> & { password?: string } {
  return {
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 5432,
    user: opts.user ?? 'postgres',
    password: opts.password,
  };
}

export class TemporalSchemaError extends Error {
  override name = 'TemporalSchemaError';
}

/** Creates both databases if missing and brings their schemas to this server's version. */
export async function setupTemporalDatabases(
  sqlTool: string,
  schemaDir: string,
  postgres: PostgresOptions = {},
  databases: TemporalDatabases = DEFAULT_DATABASES,
): Promise<void> {
  const pgo = postgresDefaults(postgres);
  for (const [database, schema] of [
    [databases.persistence, 'temporal'],
    [databases.visibility, 'visibility'],
  ] as const) {
    if (!(await databaseExists(pgo, database))) await tool(sqlTool, pgo, database, ['create-database']);
    await tool(sqlTool, pgo, database, ['setup-schema', '-v', '0.0']);
    await tool(sqlTool, pgo, database, ['update-schema', '-d', path.join(schemaDir, schema, 'versioned')]);
  }
}

async function databaseExists(pgo: ReturnType<typeof postgresDefaults>, database: string): Promise<boolean> {
  const client = new pg.Client({ ...pgo, database: 'postgres' });
  try {
    await client.connect();
  } catch (err) {
    throw new TemporalSchemaError(
      `PostgreSQL at ${pgo.host}:${pgo.port} refused user ${pgo.user} (${(err as Error).message}): start it, or pass the host, port, user and password of one Temporal may use.`,
    );
  }
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    return (rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

async function tool(
  sqlTool: string,
  pgo: ReturnType<typeof postgresDefaults>,
  database: string,
  command: string[],
): Promise<void> {
  const args = [
    '--plugin',
    'postgres12',
    '--endpoint',
    pgo.host,
    '--port',
    String(pgo.port),
    '--user',
    pgo.user,
    '--database',
    database,
    ...command,
  ];
  const result = await execa(sqlTool, args, {
    env: { SQL_PASSWORD: pgo.password ?? '' },
    reject: false,
    all: true,
    stdin: 'ignore',
  });
  if (result.exitCode !== 0) {
    const output = (result.all ?? '').split('\n').slice(-15).join('\n');
    throw new TemporalSchemaError(
      `temporal-sql-tool ${command.join(' ')} on database ${database} failed (exit ${result.exitCode}):\n${output}\nCheck that user ${pgo.user} may create databases and tables on ${pgo.host}:${pgo.port}.`,
    );
  }
}
