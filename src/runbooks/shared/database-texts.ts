import type { LostRows } from '../../activities/index.js';
import type { Rehearsal, UndoPoint } from './database-safety.js';

/** The database runbooks' shared texts: what a rehearsal showed, what a restore would lose, the undo point. */

/** A rehearsal in one sentence: failed, ran but differs from a fresh build, or ran clean (with the rows after). */
export function describeRehearsal(r: Rehearsal, on: string): string {
  if (!r.ran)
    return `The rehearsed ${r.plan} FAILED on ${on} after ${r.durationMs} ms: ${r.migration?.output ?? 'no output'}`;
  if (!r.clean) {
    const notDroppable = r.notDroppable.length
      ? ` (not droppable safely: ${r.notDroppable.slice(0, 3).join('; ')})`
      : '';
    return `The rehearsed ${r.plan} ran on ${on} in ${r.durationMs} ms but the result differs from a fresh build of the revision: ${r.diff?.extra.length ?? 0} extra and ${r.diff?.missing.length ?? 0} missing statement(s)${notDroppable}.`;
  }
  const dropped = r.cleanup.length ? ` after dropping ${r.cleanup.length} leftover(s)` : '';
  const rows = Object.entries(r.rowsAfter)
    .filter(([t]) => t !== 'public.alembic_version')
    .map(([t, n]) => `${t.replace(/^public\./, '')} ${n}`)
    .join(', ');
  return `The rehearsed ${r.plan} ran on ${on} in ${r.durationMs} ms and the result equals a fresh build of the revision${dropped}; rows after: ${rows}.`;
}

function listLost(lost: LostRows[]): string {
  return lost
    .map((l) => `${l.table.replace(/^public\./, '')} ${l.rows}${l.newestInLive ? ` (newest ${l.newestInLive})` : ''}`)
    .join(', ');
}

/** What putting a backup or snapshot in place would lose: rows written since, and tables created since. */
export function lostSummary(lost: LostRows[]): string {
  const written = lost.filter((l) => l.inBackup);
  const created = lost.filter((l) => !l.inBackup);
  const parts = [
    written.length
      ? `It would LOSE rows written since: ${listLost(written)}.`
      : 'No row written since in a table the backup has would be lost.',
  ];
  if (created.length)
    parts.push(
      `Tables the backup lacks (created since, e.g. by the failed release) go with their rows: ${listLost(created)}.`,
    );
  return parts.join(' ');
}

/** The undo point as a gate shows it: the snapshot's name, the dump's path and its manifest's digest. */
export function undoPointEvidence(u: UndoPoint): { snapshot: string; dump: string; manifestSha256: string } {
  return { snapshot: u.snapshot.name, dump: u.dump.path, manifestSha256: u.dump.manifestSha256 };
}
