import { uuid4 } from '@temporalio/workflow';
import type {
  AlembicMigration,
  BackupManifest,
  ServiceEvidence,
  DatabaseSettings,
  FreezeResult,
  LostRows,
  ManagedDatabase,
  SchemaDiff,
  SwapResult,
  TargetInfo,
} from '../../activities/index.js';
import { ApplicationFailure } from '@temporalio/workflow';
import { activitiesFor, hostActivitiesFor, longActivitiesFor } from '../../engine/activity-options.js';
import type { Runbook } from '../../engine/runbook.js';
import type { RunbookInput } from '../../contract/types.js';

/**
 * What the database runbooks share: the freeze, the undo point (same-server snapshot + verified
 * portable dump), rehearsals on a clone checked against a fresh build of the target revision, and
 * the swap that puts a whole database under the live name. Workflow code: names and decisions
 * only; the activities do the I/O.
 */

export interface Rehearsal {
  /** What was rehearsed, e.g. "downgrade to 0003_invoices". */
  plan: string;
  /** The migration ran without error on the clone. */
  ran: boolean;
  /** The clone ended identical (schema) to a fresh build of the revision. */
  clean: boolean;
  revisionAfter: string[] | null;
  /** The schema difference to the fresh build (empty when clean). */
  diff?: SchemaDiff;
  /** Statements that drop leftovers, rehearsed on the same clone after the migration. */
  cleanup: string[];
  /** Leftovers that cannot be dropped without a person's judgement (tables, columns …). */
  notDroppable: string[];
  migration?: AlembicMigration;
  durationMs: number;
  rowsAfter: Record<string, number>;
}

export interface UndoPoint {
  snapshot: ManagedDatabase;
  dump: Pick<BackupManifest, 'path' | 'totalBytes' | 'tables' | 'revision' | 'durationMs'> & { manifestSha256: string };
}

/** `<live>_<kind>_<suffix>`, lower-case, within PostgreSQL's 63 bytes (mirrors the activities' rule). */
export function dbName(live: string, kind: string, suffix: string): string {
  const room = 63 - kind.length - suffix.length - 2;
  return `${live.slice(0, Math.max(0, room))}_${kind}_${suffix}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** The DROP for a leftover where it loses no data (an index, a constraint); undefined otherwise. */
export function dropFor(statement: string): string | undefined {
  const index = /^CREATE (?:UNIQUE )?INDEX (\S+) ON (?:ONLY )?(\S+?)\./.exec(statement);
  if (index) return `DROP INDEX IF EXISTS ${index[2]}.${index[1]}`;
  const constraint = /^ALTER TABLE (?:ONLY )?(\S+) ADD CONSTRAINT (\S+) /.exec(statement);
  if (constraint) return `ALTER TABLE ${constraint[1]} DROP CONSTRAINT IF EXISTS ${constraint[2]}`;
  return undefined;
}

/**
 * What every database runbook checks before it touches anything: the target has a database and an
 * alembic tree, the ops role has the privileges, env.py honours the URL variable, the dump fits,
 * and the code's revisions and the database's. Each refusal names the fix.
 */
export async function databasePreflight(
  runbookName: string,
  input: RunbookInput,
  target: TargetInfo,
  opts: { freezes: boolean },
) {
  const act = activitiesFor(input);
  const host = hostActivitiesFor(input, target);
  if (!target.postgres || !target.hasAlembic)
    throw ApplicationFailure.nonRetryable(
      `Target "${input.target}" needs a postgres and an alembic section for ${runbookName}.`,
      'TargetConfigError',
    );
  const admin = await act.pgAdminCheck(input.target);
  if (admin.missing.length > 0)
    throw ApplicationFailure.nonRetryable(
      `The ops role ${admin.role} lacks what ${runbookName} needs: ${admin.missing.join('; ')}.`,
      'MissingPrivilege',
    );
  await host.alembicUrlProof(input.target);
  // A freeze that stops services must be able to: each answers its status on this host first.
  const writers =
    opts.freezes && target.freezeWrites === 'services'
      ? await Promise.all(target.writerServices.map((s) => host.serviceStatus(input.target, s)))
      : [];
  const space = await act.pgBackupSpace(input.target);
  const code = await host.alembicHeads(input.target);
  const applied = (await act.pgAppliedRevision(input.target)).revisions;
  return { database: target.postgres.database, admin, space, code, applied, writers };
}

const stamp = () => new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);

export function databaseSafety(rb: Runbook, input: RunbookInput, target: TargetInfo) {
  const act = rb.act;
  const long = longActivitiesFor(input);
  const host = hostActivitiesFor(input, target);
  const live = target.postgres!.database;
  const tag = uuid4().replace(/-/g, '').slice(0, 10);
  let seq = 0;
  const name = (kind: string) => dbName(live, kind, `${tag}${seq++}`);

  /** Builds `revision` from nothing in a scratch database, compares `database` with it, drops it. */
  async function compareWithFresh(database: string, revision: string, appDir?: string): Promise<SchemaDiff> {
    const fresh = name('fresh');
    try {
      await act.pgCreateEmpty(input.target, { name: fresh, kind: 'fresh', purpose: `fresh build of ${revision}` });
      const built = await host.alembicMigrate(input.target, {
        direction: 'upgrade',
        revision,
        database: fresh,
        appDir,
      });
      if (!built.ok)
        throw new Error(`A fresh build of ${revision} failed, so nothing can be compared with it: ${built.output}`);
      return await act.pgSchemaDiff(input.target, {
        database,
        against: fresh,
        againstLabel: `a fresh build of ${revision}`,
      });
    } finally {
      await act.pgDropManaged(input.target, fresh);
    }
  }

  function droppable(diff: SchemaDiff): { cleanup: string[]; notDroppable: string[] } {
    const cleanup: string[] = [];
    const notDroppable: string[] = [];
    for (const s of diff.extra) {
      const drop = dropFor(s);
      if (drop) cleanup.push(drop);
      else notDroppable.push(s);
    }
    return { cleanup, notDroppable };
  }

  async function eachWriter(action: 'start' | 'stop', services: string[]): Promise<ServiceEvidence[]> {
    const out: ServiceEvidence[] = [];
    for (const s of services) out.push(await host.serviceAction(input.target, s, action));
    return out;
  }

  async function restoreToScratch(file: string): Promise<string> {
    const scratch = name('scratch');
    await act.pgCreateEmpty(input.target, { name: scratch, kind: 'scratch', purpose: `restore of ${file}` });
    return (await long.pgRestoreInto(input.target, { file, scratch })).scratch;
  }

  async function swapNow(
    replacement: string,
    settings: DatabaseSettings,
    keptKind: 'pre_restore' | 'failed' | 'abandoned',
    refreeze: boolean,
  ): Promise<SwapResult & { refrozen?: FreezeResult }> {
    const swapped = await act.pgSwap(input.target, { replacement, keepAs: dbName(live, keptKind, stamp()), settings });
    return refreeze ? { ...swapped, refrozen: await act.pgFreezeReadOnly(input.target) } : swapped;
  }

  const safety = {
    live,

    /** What the freeze does, for its gate's prompt. */
    freezeWhat: `${target.freezeWrites === 'services' ? `First the writer services ${target.writerServices.join(', ')} are stopped (each finishes what it holds) and proved down; then n` : 'N'}ew transactions become read-only and the app's open sessions are ended; while the snapshot is taken (seconds) no one can connect at all.`,

    async recordSettings(): Promise<DatabaseSettings> {
      return rb.step('record-settings', () => act.pgDatabaseSettings(input.target), { inputs: { database: live } });
    },

    /**
     * The freeze, proved by a write as the app's role failing; with freezeWrites: services, the
     * writer services are stopped (and proved down) first. Undone in reverse if the run is aborted.
     */
    async freeze(): Promise<FreezeResult & { stoppedServices?: ServiceEvidence[] }> {
      let stoppedServices: ServiceEvidence[] | undefined;
      if (target.freezeWrites === 'services') {
        stoppedServices = await rb.step('stop-writers', () => eachWriter('stop', target.writerServices), {
          inputs: { services: target.writerServices },
        });
        rb.compensate('start-writers', () => eachWriter('start', [...target.writerServices].reverse()));
      }
      const frozen = await rb.step('freeze', () => act.pgFreezeReadOnly(input.target), {
        inputs: { method: target.freezeWrites ?? 'read-only', database: live },
      });
      rb.compensate('unfreeze', () => act.pgUnfreeze(input.target));
      return stoppedServices ? { ...frozen, stoppedServices } : frozen;
    },

    /** Lifts the read-only freeze (proved by a write), then starts the writer services it stopped. */
    async unfreeze(): Promise<{ writable: boolean; role: string; startedServices?: ServiceEvidence[] }> {
      const lifted = await rb.step('unfreeze', () => act.pgUnfreeze(input.target), { inputs: { database: live } });
      if (target.freezeWrites !== 'services') return lifted;
      const startedServices = await rb.step(
        'start-writers',
        () => eachWriter('start', [...target.writerServices].reverse()),
        { inputs: { services: target.writerServices } },
      );
      return { ...lifted, startedServices };
    },

    /**
     * The undo point: a same-server snapshot (the live database is cut off for those seconds), then
     * a portable dump of the snapshot (so the live database is not read twice) with its manifest.
     */
    async undoPoint(purpose: 'pre-release' | 'undo-point', allowConnectionsAfter: boolean): Promise<UndoPoint> {
      const snapshot = await rb.step(
        'snapshot',
        () => long.pgSnapshot(input.target, { name: name('snap'), purpose, allowConnectionsAfter }),
        {
          inputs: { database: live, purpose, method: 'CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY' },
        },
      );
      const dump = await rb.step(
        'dump',
        async () => {
          // Hashed into its manifest and read back by pg_restore --list; the full check (every file
          // against the manifest) runs again before anything is restored from it.
          const manifest = await long.pgDumpBackup(input.target, { name: snapshot.name, database: snapshot.name });
          return {
            path: manifest.path,
            totalBytes: manifest.totalBytes,
            tables: manifest.tables,
            revision: manifest.revision,
            durationMs: manifest.durationMs,
            manifestSha256: manifest.manifestSha256,
            checks: manifest.checks,
          };
        },
        { inputs: { of: snapshot.name, format: 'directory', jobs: 2 } },
      );
      return { snapshot, dump };
    },

    /**
     * Runs a migration on a clone of `source` (a snapshot or a scratch restore, never the live
     * database), checks the clone against a fresh build of the revision, tries dropping leftovers
     * on the same clone, records the time; drops the clone.
     */
    async rehearse(
      stepName: string,
      source: string,
      migration: { direction: 'upgrade' | 'downgrade'; revision: string },
      opts: { tryCleanup?: boolean; appDir?: string } = {},
    ): Promise<Rehearsal> {
      return rb.step(
        stepName,
        async () => {
          const clone = name('clone');
          const started = Date.now();
          try {
            await long.pgClone(input.target, { source, name: clone, kind: 'clone' });
            const ran = await host.alembicMigrate(input.target, { ...migration, database: clone, appDir: opts.appDir });
            const revisionAfter = await act.pgRevisionIn(input.target, clone);
            const plan = `${migration.direction} to ${migration.revision}`;
            const rows = async () =>
              Object.fromEntries((await act.pgTableRows(input.target, clone)).map((t) => [t.table, t.rows]));
            if (!ran.ok)
              return {
                plan,
                ran: false,
                clean: false,
                revisionAfter,
                migration: ran,
                cleanup: [],
                notDroppable: [],
                durationMs: Date.now() - started,
                rowsAfter: await rows(),
              };
            let diff = await compareWithFresh(clone, migration.revision, opts.appDir);
            const { cleanup, notDroppable } = droppable(diff);
            if (
              opts.tryCleanup &&
              !diff.same &&
              cleanup.length > 0 &&
              notDroppable.length === 0 &&
              diff.missing.length === 0
            ) {
              await act.pgExecute(input.target, { database: clone, statements: cleanup });
              diff = await compareWithFresh(clone, migration.revision, opts.appDir);
            }
            return {
              plan,
              ran: true,
              clean: diff.same,
              revisionAfter,
              diff,
              cleanup: diff.same ? cleanup : [],
              notDroppable,
              migration: ran,
              durationMs: Date.now() - started,
              rowsAfter: await rows(),
            };
          } finally {
            await act.pgDropManaged(input.target, clone);
          }
        },
        { inputs: { source, ...migration, on: 'a clone (dropped afterwards)' } },
      );
    },

    /** The live database against a fresh build of `revision`: what a failed revision left behind. */
    async compareLive(stepName: string, revision: string): Promise<SchemaDiff & { revision: string }> {
      return rb.step(stepName, async () => ({ ...(await compareWithFresh(live, revision)), revision }), {
        inputs: { database: live, against: `a fresh build of ${revision}` },
      });
    },

    /** What replacing the live database by `replacement` would lose: the evidence at a restore/rollback gate. */
    async lostRows(stepName: string, replacement: string): Promise<LostRows[]> {
      return rb.step(
        stepName,
        async () => act.pgRowsNotIn(input.target, await act.pgTableRows(input.target, replacement)),
        { inputs: { live, replacement } },
      );
    },

    /** A copy of one of our databases (a snapshot) to restore from; the source stays as it was. */
    async copyToScratch(source: string): Promise<string> {
      return (await long.pgClone(input.target, { source, name: name('scratch'), kind: 'scratch' })).name;
    },

    /** A backup file restored into a scratch database and checked against its manifest. */
    restoreToScratch,

    async scratchFromBackup(stepName: string, file: string): Promise<string> {
      return rb.step(stepName, () => restoreToScratch(file), { inputs: { backup: file } });
    },

    swapNow,

    /**
     * Puts `replacement` under the live name (two renames, one transaction) with the settings
     * recorded before the run began; the replaced database is kept as `<live>_<keptKind>_<time>`.
     * If the run froze writes, the freeze is put back on (and proved) at once.
     */
    async swap(
      stepName: string,
      replacement: string,
      settings: DatabaseSettings,
      keptKind: 'pre_restore' | 'failed',
      refreeze: boolean,
    ): Promise<SwapResult & { refrozen?: FreezeResult }> {
      return rb.step(stepName, () => swapNow(replacement, settings, keptKind, refreeze), {
        inputs: { live, replacement },
      });
    },

    async migrateLive(
      stepName: string,
      migration: { direction: 'upgrade' | 'downgrade'; revision: string; appDir?: string },
    ): Promise<AlembicMigration & { revisionAfter: string[] | null }> {
      return rb.step(
        stepName,
        async () => {
          const ran = await host.alembicMigrate(input.target, migration);
          return { ...ran, revisionAfter: (await act.pgAppliedRevision(input.target)).revisions };
        },
        { inputs: { database: live, ...migration } },
      );
    },

    /** Drops what this run made that nobody needs any more (clones and fresh builds are dropped as they go). */
    async dropManaged(stepName: string, names: string[]): Promise<string[]> {
      return rb.step(
        stepName,
        async () => {
          const dropped: string[] = [];
          for (const n of names) if ((await act.pgDropManaged(input.target, n)).dropped) dropped.push(n);
          return dropped;
        },
        { inputs: { databases: names } },
      );
    },

    /**
     * A dry run's rehearsal, which cuts nobody off: a fresh dump of the live database, restored
     * into scratch, is its source; the scratch database is dropped after it.
     */
    async rehearseOnFreshCopy(
      stepName: string,
      migration: { direction: 'upgrade' | 'downgrade'; revision: string },
      opts: { tryCleanup?: boolean } = {},
    ): Promise<Rehearsal> {
      const file = await rb.step(
        'dry-run-copy',
        async () => (await act.pgDumpBackup(input.target, { name: `dry-run-${live}-${Date.now()}` })).path,
      );
      const scratch = await safety.scratchFromBackup('dry-run-restore', file);
      const rehearsal = await safety.rehearse(stepName, scratch, migration, opts);
      await safety.dropManaged('cleanup', [scratch]);
      return rehearsal;
    },
  };
  return safety;
}

export type DatabaseSafety = ReturnType<typeof databaseSafety>;
