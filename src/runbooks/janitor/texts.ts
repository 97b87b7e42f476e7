/** janitor's texts: what its gate asks, and its summary. */

export interface Leftover {
  name: string;
  kind: string;
  reason: string;
}

const list = (ls: Leftover[]) => ls.map((p) => `${p.name} (${p.reason})`).join(', ') || 'nothing';

export function removePrompt(target: string, toRemove: Leftover[]): string {
  return `Drop ${toRemove.length} leftover(s) of durable-runbooks on ${target} for good: ${toRemove.map((p) => `${p.name} (${p.kind}: ${p.reason})`).join(', ')}. Everything else is kept.`;
}

/** What was removed (or would be, in a dry run) and what is kept, each with its reason. */
export function janitorSummary(f: { dryRun: boolean; toRemove: Leftover[]; removed: Leftover[]; kept: Leftover[] }) {
  return [
    f.dryRun
      ? `Dry run: would remove ${f.toRemove.length}: ${list(f.toRemove)}.`
      : `Removed ${f.removed.length}: ${list(f.removed)}.`,
    `Kept ${f.kept.length}: ${list(f.kept)}.`,
  ];
}
