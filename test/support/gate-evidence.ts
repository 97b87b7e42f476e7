import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { catalogue } from '../../src/runbooks/catalogue.js';
import { recoveryGate } from '../../src/contract/procedure.js';
import { recoveryPlan } from '../../src/engine/recovery-texts.js';
import type { JournalEntry } from '../../src/contract/types.js';
import { repoRoot } from './harness.js';

/**
 * The evidence each gate of each runbook opens with (#20: every gate's view, checked in the unit
 * test and walked in the console): what the recorded runs in test/histories carried, and for the
 * gates no recorded run reaches (a dry run stops before every gate), the evidence the workflow
 * builds there, in its shape. A gate added to a runbook without evidence here fails those tests.
 */

export interface GateSample {
  runbook: string;
  gate: string;
  kind: 'approval' | 'recovery';
  prompt: string;
  evidence: unknown;
  /** Steps the view reads sizes and times from (a backup, a snapshot). */
  journal?: JournalEntry[];
  from: 'recorded' | 'sample';
}

const runbookOf = (file: string) =>
  /^(approval-drill|connection-refused|einvoicing-failed|login-errors|migration-failed|missing-container-file|payments-failed|pwa-stale-cache|release-migration|schema-drift|stuck-imports|janitor|db-access|observability-check)/.exec(
    file,
  )?.[1] ?? file;

/** Every gate's evidence the recorded runs in test/histories carried (their gate-opened notifications). */
export function recordedGates(): GateSample[] {
  const out = new Map<string, GateSample>();
  const dir = path.join(repoRoot, 'test/histories');
  for (const file of readdirSync(dir)) {
    const runbook = runbookOf(file);
    const gates = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(gates);
      if (typeof v !== 'object' || v === null) return;
      const o = v as Record<string, unknown>;
      if (typeof o.gate === 'string' && 'evidence' in o && o.policy) {
        out.set(`${runbook}:${o.gate}`, {
          runbook,
          gate: o.gate,
          kind: o.gate.startsWith('recover:') ? 'recovery' : 'approval',
          prompt: typeof o.prompt === 'string' ? o.prompt : `Recorded gate ${o.gate}.`,
          evidence: o.evidence,
          from: 'recorded',
        });
      }
      Object.values(o).forEach(gates);
    };
    const payloads = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(payloads);
      if (typeof v !== 'object' || v === null) return;
      const o = v as Record<string, unknown>;
      if (typeof o.data === 'string' && o.metadata) {
        try {
          gates(JSON.parse(Buffer.from(o.data, 'base64').toString('utf8')));
        } catch {
          // not JSON: no gate in it
        }
      }
      Object.values(o).forEach(payloads);
    };
    payloads(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  }
  return [...out.values()];
}

const at = '2026-12-01T10:00:00.000Z';
const step = (name: string, evidence: unknown, inputs?: Record<string, unknown>): JournalEntry => ({
  kind: 'step',
  step: name,
  startedAt: at,
  endedAt: at,
  actor: 'worker',
  outcome: 'ok',
  evidence,
  inputs,
});
const sha = '384c0c8d2f3fb6fa869fced908db36afdd5eb217e44af2111688d70ff5bd46a2';
const undoPoint = { snapshot: 'shop_snap_1', dump: '/var/backups/runbooks/shop_snap_1', manifestSha256: sha };
const undoJournal = [
  step('record-settings', {}, { database: 'shop' }),
  step('snapshot', { name: 'shop_snap_1', sizeBytes: 9_000_000, revision: ['0004_imports_payments'] }),
  step('dump', {
    path: undoPoint.dump,
    totalBytes: 1_468_006,
    manifestSha256: sha,
    checks: ['pg_restore --list read 42 entries'],
  }),
];

/** The gates no recorded run reaches, with the evidence their workflow code gives them (see each file's rb.gate call). */
function unrecordedGates(): GateSample[] {
  const recovery = recoveryPlan(
    {
      step: 'restore-source',
      target: 'shop-db',
      skippable: false,
      corrections: { backup: 'path of a pg_dump file or directory' },
    },
    [
      { error: 'Nothing to restore from: no release-migration snapshot of shop and no backup given.' },
      { error: 'Nothing to restore from: no release-migration snapshot of shop and no backup given.' },
    ],
  );
  return [
    {
      // janitor.ts: what the plan marked for removal, how many kept, the retention.
      runbook: 'janitor',
      gate: 'remove',
      kind: 'approval',
      from: 'sample',
      prompt:
        'Drop 2 leftover(s) of durable-runbooks on shop-db for good: shop_clone_1 (clone: its run ended), shop_snap_1 (snapshot: older than 7d). Everything else is kept.',
      evidence: {
        remove: [
          { name: 'shop_clone_1', kind: 'clone', reason: 'its run ended' },
          { name: 'shop_snap_1', kind: 'snapshot', reason: 'older than 7d' },
        ],
        keep: 3,
        retention: '7d',
      },
    },
    {
      // migration-failed.ts: why the downgrade cannot repair, the restore's source and scratch, the rows lost, the undo point.
      runbook: 'migration-failed',
      gate: 'restore',
      kind: 'approval',
      from: 'sample',
      journal: [
        ...undoJournal,
        step('preflight', {
          backup: {
            path: '/var/backups/runbooks/backup.dump',
            format: 'custom',
            sha256: 'ab'.repeat(32),
            totalBytes: 2048,
            tableCount: 5,
            manifest: { createdAt: '2026-11-30T10:12:00.000Z' },
            checks: ['pg_restore --list read 30 entries'],
          },
        }),
      ],
      prompt: 'The rehearsed downgrade FAILED. Restore shop from the backup /var/backups/runbooks/backup.dump?',
      evidence: {
        why: 'The rehearsed downgrade FAILED on a clone of shop: cannot drop table import_items because other objects depend on it.',
        source: 'backup /var/backups/runbooks/backup.dump',
        scratch: 'shop_scratch_1',
        lost: [
          {
            table: 'public.invoices',
            rows: 1,
            inBackup: true,
            newestInLive: '2026-12-01T09:58:00Z',
            newestInBackup: '2026-11-30T22:00:00Z',
          },
          {
            table: 'public.import_items',
            rows: 8,
            inBackup: false,
            newestInLive: '2026-12-01T09:00:00Z',
            newestInBackup: null,
          },
        ],
        undoPoint,
      },
    },
    {
      // migration-failed.ts: the revision now applied and the code's heads.
      runbook: 'migration-failed',
      gate: 'reapply',
      kind: 'approval',
      from: 'sample',
      prompt: 'Re-apply the migrations on shop (alembic upgrade head), now that the cause is fixed?',
      evidence: { revision: ['0004_imports_payments'], heads: ['0005_invoice_estado_check'] },
    },
    {
      // release-migration.ts: why the release failed, the rows a rollback loses, the snapshot swapped in.
      runbook: 'release-migration',
      gate: 'rollback',
      kind: 'approval',
      from: 'sample',
      journal: undoJournal,
      prompt:
        'The release failed on shop (smoke checks failed). Roll back by swapping the pre-release snapshot shop_snap_1 in?',
      evidence: {
        failure: 'smoke checks failed: invoices-readable (got error, expected ok)',
        lost: [
          {
            table: 'public.invoices',
            rows: 3,
            inBackup: true,
            newestInLive: '2026-12-01T10:05:00Z',
            newestInBackup: '2026-12-01T09:59:00Z',
          },
        ],
        snapshot: 'shop_snap_1',
        snapshotRevision: ['0004_imports_payments'],
      },
    },
    // runbook.ts: a step failed after the run changed its target, twice alike (recovery-texts.ts builds it).
    {
      runbook: 'migration-failed',
      gate: recoveryGate('restore-source'),
      kind: 'recovery',
      from: 'sample',
      prompt: recovery.prompt,
      evidence: recovery.evidence,
    },
  ];
}

/** Every gate each runbook declares, in the catalogue and in its procedure. */
export function declaredGates(): Array<{ runbook: string; gate: string }> {
  const seen = new Set<string>();
  for (const def of catalogue) for (const gate of def.gates) seen.add(`${def.name}\t${gate}`);
  for (const def of catalogue) for (const gate of def.gates) seen.add(`${def.name}\t${gate}`);
  return [...seen].map((k) => {
    const [runbook, gate] = k.split('\t') as [string, string];
    return { runbook, gate };
  });
}

/** One evidence per declared gate (recorded where a recorded run reached it), and a recovery gate's. */
export function gateSamples(): GateSample[] {
  const recorded = recordedGates();
  const written = unrecordedGates();
  const find = (runbook: string, gate: string) =>
    recorded.find((s) => s.runbook === runbook && s.gate === gate) ??
    written.find((s) => s.runbook === runbook && s.gate === gate);
  const declared = declaredGates().flatMap(({ runbook, gate }) => find(runbook, gate) ?? []);
  return [...declared, ...written.filter((s) => s.kind === 'recovery')];
}
