import type { ActivityContext } from './context.js';
import { pgTool } from './pg-tool.js';
import { connectionOf } from './postgres.js';

/** A database's schema (pg_dump --schema-only) against another database's. */

export interface SchemaDiff {
  same: boolean;
  /** Statements (normalised pg_dump --schema-only) in the database but not in the reference. */
  extra: string[];
  /** Statements in the reference but not in the database. */
  missing: string[];
  reference: string;
}

/**
 * pg_dump --schema-only, normalised to comparable statements: no comments, SET lines, owners,
 * privileges or sequence positions, one statement per entry, whitespace collapsed.
 */
export function normaliseSchema(dump: string): string[] {
  const statements = dump
    .split('\n')
    // pg_dump ≥ 15.14 brackets its output in \restrict/\unrestrict lines with a random key.
    .filter((l) => !l.startsWith('--') && !l.startsWith('\\') && !/^SET |^SELECT pg_catalog\.set_config/.test(l))
    .join('\n')
    .split(/;\s*\n/)
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s.length > 0 && !/^(COMMENT ON|ALTER .* OWNER TO|GRANT |REVOKE |SELECT pg_catalog\.setval)/.test(s));
  return statements;
}

export function diffSchemas(actual: string[], reference: string[], referenceName: string): SchemaDiff {
  const ref = new Set(reference);
  const act = new Set(actual);
  const extra = actual.filter((s) => !ref.has(s));
  const missing = reference.filter((s) => !act.has(s));
  return { same: extra.length === 0 && missing.length === 0, extra, missing, reference: referenceName };
}

async function schemaOf(ctx: Pick<ActivityContext, 'targets'>, target: string, database: string): Promise<string[]> {
  const { stdout } = await pgTool(connectionOf(ctx.targets, target), database, 'pg_dump', [
    '--schema-only',
    '--no-owner',
    '--no-privileges',
    '--no-comments',
  ]);
  return normaliseSchema(stdout);
}

/** The database's schema against another database's, or against a fresh build (see freshBuild). */
export async function pgSchemaDiff(
  ctx: Pick<ActivityContext, 'targets'>,
  target: string,
  req: { database?: string; against: string; againstLabel?: string },
): Promise<SchemaDiff> {
  const actual = await schemaOf(ctx, target, req.database ?? connectionOf(ctx.targets, target).database);
  const reference = await schemaOf(ctx, target, req.against);
  return diffSchemas(actual, reference, req.againstLabel ?? req.against);
}
