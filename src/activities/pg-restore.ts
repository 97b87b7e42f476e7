import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { type BackupContext, confined } from './backup-files.js';
import { verify } from './backup-verify.js';
import { countRows, tablesByOid } from './database-contents.js';
import { withHeartbeats } from './heartbeat.js';
import { label, parseManagedComment } from './managed-databases.js';
import { pgTool, psqlRestricted } from './pg-tool.js';
import { connectionOf, withPg } from './postgres.js';

/** A verified backup restored into a scratch database of ours, by pg_restore or restricted psql. */

/**
 * Start from an empty scratch database every attempt: an earlier attempt (or its orphaned
 * pg_restore, whose session this ends) may have left part of a restore in it. One that no
 * restore has begun in (its label says) and that nobody is on is empty: used as it is.
 */
async function emptyScratch(ctx: BackupContext, target: string, scratch: string): Promise<void> {
  await withPg(
    ctx.targets,
    target,
    async (c) => {
      const found = await c.query<{ comment: string | null; sessions: number }>(
        `select shobj_description(oid, 'pg_database') as comment, (select count(*)::int from pg_stat_activity a where a.datname = d.datname) as sessions
             from pg_database d where datname = $1`,
        [scratch],
      );
      const meta = parseManagedComment(found.rows[0]?.comment ?? null);
      if (meta?.kind !== 'scratch')
        throw ApplicationFailure.nonRetryable(
          `"${scratch}" is not a scratch database of ours; refusing to restore into it.`,
          'NotManaged',
        );
      const fresh = meta.restoreStartedAt === undefined && found.rows[0]!.sessions === 0;
      if (!fresh) {
        await c.query(`drop database ${pg.escapeIdentifier(scratch)} with (force)`);
        await c.query(`create database ${pg.escapeIdentifier(scratch)} template template0`);
      }
      await label(c, scratch, { ...meta, restoreStartedAt: new Date().toISOString() });
    },
    { database: 'postgres', statementTimeoutMs: 5 * 60_000 },
  );
}

/**
 * Restores a verified backup into the (empty) scratch database: pg_restore -j for custom and
 * directory dumps, psql for plain SQL. Then compares row counts with the manifest when there is one.
 */
export async function pgRestoreInto(
  ctx: BackupContext,
  target: string,
  req: { file: string; scratch: string; jobs?: number },
): Promise<{
  scratch: string;
  format: string;
  bytes: number;
  rows: Record<string, number> | null;
  matchesManifest: boolean | null;
  durationMs: number;
  restoreCommandMs: number;
}> {
  const conn = connectionOf(ctx.targets, target);
  const backup = await verify(ctx, target, await confined(ctx, target, req.file));
  await emptyScratch(ctx, target, req.scratch);
  const started = Date.now();
  const work =
    backup.format === 'plain'
      ? psqlRestricted(conn, req.scratch, backup.path)
      : pgTool(conn, req.scratch, 'pg_restore', [
          '--exit-on-error',
          '--no-owner',
          `--jobs=${backup.format === 'directory' ? (req.jobs ?? 2) : 1}`,
          `--dbname=${req.scratch}`,
          backup.path,
        ]);
  await withHeartbeats(work, () => ({ phase: 'restore', format: backup.format, scratch: req.scratch }), {
    atStart: true,
  });
  const restoreCommandMs = Date.now() - started;
  if (!backup.manifest)
    return {
      scratch: req.scratch,
      format: backup.format,
      bytes: backup.totalBytes,
      rows: null,
      matchesManifest: null,
      durationMs: restoreCommandMs,
      restoreCommandMs,
    };
  // Every table of the manifest, counted in the restored copy (names as its catalog spells them).
  const expected = backup.manifest.tables;
  const present = [...(await withPg(ctx.targets, target, tablesByOid, { database: req.scratch })).values()].filter(
    (t) => t.table in expected,
  );
  const rows = await countRows(ctx, target, req.scratch, present);
  const mismatched = Object.entries(expected).filter(([t, n]) => rows[t] !== n);
  if (mismatched.length) {
    throw ApplicationFailure.nonRetryable(
      `The restore of ${backup.path} into "${req.scratch}" does not match the manifest's row counts (${mismatched.map(([t, n]) => `${t}: manifest ${n}, restored ${rows[t] ?? 'no such table'}`).join(', ')}). The live database was not touched.`,
      'RestoreMismatch',
    );
  }
  return {
    scratch: req.scratch,
    format: backup.format,
    bytes: backup.totalBytes,
    rows,
    matchesManifest: true,
    durationMs: Date.now() - started,
    restoreCommandMs,
  };
}
