import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { celeryPublisher } from './celery.js';
import { FailureType } from './errors.js';
import { startHeartbeats } from './heartbeat.js';
import { tablesExist } from './imports-db.js';
import { type ImportsContext, importsSpec, type ImportsSpec, LEDGER, qi } from './imports-config.js';
import { withPg } from './postgres.js';

/** Stuck (and, opted in, failed) import items published again through the app's Celery, each once, by a ledger. */

export interface ReenqueueResult {
  generation: string;
  published: number;
  alreadyPublished: number;
  batches: number;
  ledger: string;
  /** Failed items this generation set back to waiting and published (retryFailed), each once ever. */
  retried?: number;
  retriedSample?: number[];
}

/**
 * Re-enqueues the items still waiting that were last updated before the diagnosis' cutoff,
 * through the app's own Celery app, each once per generation: a
 * ledger row (with the deterministic task id) is committed before its publish and marked after
 * it. A retry first re-publishes the ledger rows not marked (a duplicate message is harmless:
 * the same task id, and the app's task changes status only from a waiting one), then takes new
 * items with no ledger row. Done items are never selected. Heartbeats report progress.
 */
type Taken = Array<{ item_id: string; task_id: string }>;
interface Batch {
  s: ImportsSpec;
  generation: string;
  updatedBefore: string;
  size: number;
}

/** Waiting items last updated before the diagnosis with no ledger row in this generation. */
async function takeStuck(c: pg.Client, b: Batch, after: number): Promise<Taken> {
  const { s } = b;
  return (
    await c.query<{ item_id: string; task_id: string }>(
      `insert into ${LEDGER} (generation, item_id, task_id)
       select $1, i.id, 'rb-' || $1 || '-' || i.id from ${qi(s.items)} i
        where i.${qi(s.status)} = any($2) and i.${qi(s.updatedAt)} <= $3::timestamptz
          and i.id > $5 and not exists (select 1 from ${LEDGER} l where l.generation = $1 and l.item_id = i.id)
        order by i.id limit $4
     on conflict do nothing returning item_id, task_id`,
      [b.generation, s.waiting, b.updatedBefore, b.size, after],
    )
  ).rows;
}

/**
 * Failed items never retried before (by any run): in one statement, a ledger row recording the
 * status it failed with, and the item set back to waiting, as the app does when it enqueues.
 */
async function takeFailed(c: pg.Client, b: Batch, after: number): Promise<Taken> {
  const { s } = b;
  return (
    await c.query<{ item_id: string; task_id: string }>(
      `with picked as (
       select i.id, i.${qi(s.status)}::text as status from ${qi(s.items)} i
        where i.${qi(s.status)} = any($2) and i.id > $4
          and not exists (select 1 from ${LEDGER} l where l.item_id = i.id and (l.retried_from is not null or l.generation = $1))
        order by i.id limit $3 for update of i
     ), recorded as (
       insert into ${LEDGER} (generation, item_id, task_id, retried_from)
       select $1, id, 'rb-' || $1 || '-' || id, status from picked
       on conflict do nothing returning item_id, task_id
     ), reset as (
       update ${qi(s.items)} i set ${qi(s.status)} = $5, ${qi(s.updatedAt)} = now() from recorded r where i.id = r.item_id returning i.id
     )
     select item_id, task_id from recorded order by item_id`,
      [b.generation, s.failed, b.size, after, s.retryAs ?? s.waiting.at(-1)],
    )
  ).rows;
}

/** The ledger, created or brought up to date in the app's database. */
async function ensureLedger(c: pg.Client): Promise<void> {
  await c.query(`create schema if not exists durable_runbooks`);
  await c.query(`create table if not exists ${LEDGER} (generation text not null, item_id bigint not null, task_id text not null,
    recorded_at timestamptz not null default now(), published_at timestamptz, primary key (generation, item_id))`);
  // retried_from: the failed status a retried item was set back from; one such row per item ever.
  await c.query(`alter table ${LEDGER} add column if not exists retried_from text`);
  await c.query(
    `create index if not exists import_reenqueue_retried on ${LEDGER} (item_id) where retried_from is not null`,
  );
}

async function publishedBefore(c: pg.Client, generation: string): Promise<number> {
  const { rows } = await c.query<{ n: string }>(
    `select count(*) as n from ${LEDGER} where generation = $1 and published_at is not null`,
    [generation],
  );
  return Number(rows[0]!.n);
}

async function retriedIn(
  c: pg.Client,
  generation: string,
): Promise<Pick<ReenqueueResult, 'retried' | 'retriedSample'>> {
  const r = (
    await c.query<{ n: string; ids: number[] | null }>(
      `select count(*) as n, (array_agg(item_id order by item_id))[1:10]::bigint[] as ids from ${LEDGER} where generation = $1 and retried_from is not null`,
      [generation],
    )
  ).rows[0]!;
  return { retried: Number(r.n), retriedSample: (r.ids ?? []).map(Number) };
}

/**
 * Re-enqueues the items still waiting that were last updated before the diagnosis' cutoff,
 * through the app's own Celery app, each once per generation: a
 * ledger row (with the deterministic task id) is committed before its publish and marked after
 * it. A retry first re-publishes the ledger rows not marked (a duplicate message is harmless:
 * the same task id, and the app's task changes status only from a waiting one), then takes new
 * items with no ledger row. Done items are never selected. Heartbeats report progress.
 */
export async function importsReenqueue(
  ctx: ImportsContext,
  target: string,
  req: { generation: string; updatedBefore: string; batchSize?: number; stuck?: boolean; retryFailed?: boolean },
): Promise<ReenqueueResult> {
  const s = importsSpec(ctx, target);
  if (!s.celery)
    throw ApplicationFailure.nonRetryable(
      `Target "${target}" has no imports.celery section in ${ctx.targets.file}: nothing can be published.`,
      FailureType.targetConfig,
    );
  const batch: Batch = { s, generation: req.generation, updatedBefore: req.updatedBefore, size: req.batchSize ?? 1000 };
  let published = 0;
  let alreadyPublished = 0;
  let batches = 0;
  let retried: Pick<ReenqueueResult, 'retried' | 'retriedSample'> = {};
  const publisher = celeryPublisher(ctx, target);
  // A heartbeat after each batch, and every 2 s while one is slow (the publisher starting on a
  // loaded host): a slow batch is not a dead worker, and must not time the attempt out.
  const beats = startHeartbeats(() => ({ published, batches }));
  await withPg(
    ctx.targets,
    target,
    async (c) => {
      await tablesExist(ctx, c, s, target);
      await ensureLedger(c);
      alreadyPublished = await publishedBefore(c, req.generation);
      // Stuck items first, then (opt-in) failed ones; each source read in id order from where it left off.
      const sources = [...(req.stuck === false ? [] : [takeStuck]), ...(req.retryFailed ? [takeFailed] : [])];
      for (const take of sources) {
        let after = 0; // keyset: each batch starts after the last id taken (no rescan of the table)
        for (;;) {
          let { rows } = await c.query<{ item_id: string; task_id: string }>(
            `select item_id, task_id from ${LEDGER} where generation = $1 and published_at is null order by item_id limit $2`,
            [req.generation, batch.size],
          );
          if (rows.length === 0) {
            rows = await take(c, batch, after);
            if (rows.length === 0) break;
            after = Math.max(after, ...rows.map((r) => Number(r.item_id)));
          }
          await publisher.publish(rows);
          await c.query(
            `update ${LEDGER} set published_at = now() where generation = $1 and item_id = any($2::bigint[])`,
            [req.generation, rows.map((r) => r.item_id)],
          );
          published += rows.length;
          batches++;
          beats.beat({ published, batches });
        }
      }
      if (req.retryFailed) retried = await retriedIn(c, req.generation);
    },
    { statementTimeoutMs: 120_000 },
  ).finally(() => {
    beats.stop();
    return publisher.close();
  });
  return { generation: req.generation, published, alreadyPublished, batches, ledger: LEDGER, ...retried };
}
