import { createHmac, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { createRequire } from 'node:module';
import type StripeType from 'stripe';
import { ownEntry, type TargetRegistry, type TargetSpec } from '../targets.js';
import { parseDuration } from '../util/duration.js';
import { redact } from '../util/redact.js';
import { FailureType, targetSpec } from './errors.js';
import { httpRequest, type HttpAnswer } from './http.js';
import { qi } from './imports.js';
import { envFileValue } from './login.js';
import { withPg } from './postgres.js';

/**
 * Seed 003 "Pagos fallidos (Stripe/Payphone/Kushki)": per provider, the mode the app runs it in
 * against the expected one; its webhook endpoint sent a correctly signed test event (2xx expected)
 * and a badly signed one (4xx expected) — Stripe's scheme through the official stripe package,
 * HMAC for the others; attempts and errors by provider; and the re-drive of failed webhook events,
 * keyed by event id, signed as the provider would.
 */

type Provider = NonNullable<TargetSpec['payments']>['providers'][string];

export interface WebhookProbe {
  status: number | null;
  body: string;
  error?: HttpAnswer['error'];
}

export interface ProviderEvidence {
  name: string;
  scheme: 'stripe' | 'hmac';
  url: string;
  /** The mode the app runs it in; null when not declared or not readable. */
  mode: { expected: string; actual: string | null; source: string } | null;
  /** The signing secret is set on the worker (its value never leaves it). */
  secretSet: boolean;
  /** A correctly signed test event (the app should answer 2xx and ignore it). */
  signed: WebhookProbe | null;
  /** The same event signed with a wrong secret (the app must refuse it, 4xx). */
  badlySigned: WebhookProbe | null;
}

export interface PaymentsEvidence {
  providers: ProviderEvidence[];
  /** Attempts by provider and status (the attempts table). */
  attempts: Array<{ provider: string; status: string; n: number }>;
  events: { present: boolean; failedTotal: number; failed: Array<{ id: string; provider: string }> };
}

export interface RedriveOutcome {
  id: string;
  provider: string;
  status: number | null;
  ok: boolean;
  detail: string;
}

/** The mode an API key is for (sk_live_… → live); null when it says none. Pure. */
export function keyMode(key: string | null): string | null {
  return /^(?:sk|pk|rk)_(live|test)_/.exec(key ?? '')?.[1] ?? null;
}

// Loaded on first use (a payments run): the stripe package is about 20 MB of a worker's idle memory
// (bench/RESULTS.md, idle RSS against bare Temporal), for one function.
let stripe: typeof StripeType | undefined;
const stripeWebhooks = () => (stripe ??= createRequire(import.meta.url)('stripe') as typeof StripeType).webhooks;

/** The headers that sign `body` as the provider does. Pure apart from the clock Stripe's scheme reads. */
export function signWebhook(
  p: Pick<Provider, 'scheme' | 'header' | 'algorithm' | 'encoding'>,
  body: string,
  secret: string,
): Record<string, string> {
  if (p.scheme === 'stripe')
    return { 'stripe-signature': stripeWebhooks().generateTestHeaderString({ payload: body, secret }) };
  return { [p.header.toLowerCase()]: createHmac(p.algorithm, secret).update(body).digest(p.encoding) };
}

/** Values that must not enter evidence: API keys and signing secrets by their well-known prefixes. Pure. */
export function looksSecret(v: string | null): boolean {
  return v !== null && /^(?:sk|pk|rk)_(?:live|test)_|^whsec_|^sk-|^xox[abp]-/.test(v);
}

const WRONG_SECRET = 'whsec_durable_runbooks_wrong_secret';

export function createPaymentsActivities(targets: TargetRegistry) {
  function specOf(target: string) {
    const spec = targetSpec(targets, target);
    if (!spec.payments || !spec.app)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no payments section in ${targets.file}: add payments.providers under a target with app.url and postgres.`,
        FailureType.targetConfig,
      );
    return { pay: spec.payments, app: spec.app };
  }

  async function post(
    target: string,
    url: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<WebhookProbe> {
    const a = await httpRequest(url, {
      method: 'POST',
      body,
      timeoutMs: parseDuration(specOf(target).app.timeout),
      headers: { 'content-type': 'application/json', ...headers },
    });
    return {
      status: a.status,
      body: redact(a.body).split('\n')[0]!.slice(0, 200),
      ...(a.error ? { error: a.error } : {}),
    };
  }

  async function failedEvents(target: string, only?: string[]): Promise<PaymentsEvidence['events']> {
    const { pay } = specOf(target);
    const ev = pay.events;
    return withPg(targets, target, async (c) => {
      if ((await c.query<{ t: string | null }>('select to_regclass($1) as t', [ev.table])).rows[0]?.t == null)
        return { present: false, failedTotal: 0, failed: [] };
      const where = `${qi(ev.status)} = any($1)`;
      const total = Number(
        (await c.query<{ n: string }>(`select count(*) as n from ${qi(ev.table)} where ${where}`, [ev.failed])).rows[0]!
          .n,
      );
      const rows = only
        ? (
            await c.query<{ id: string; provider: string }>(
              `select ${qi(ev.id)}::text as id, ${qi(ev.provider)}::text as provider from ${qi(ev.table)} where ${where} and ${qi(ev.id)}::text = any($2) order by ${qi(ev.id)}`,
              [ev.failed, only],
            )
          ).rows
        : (
            await c.query<{ id: string; provider: string }>(
              `select ${qi(ev.id)}::text as id, ${qi(ev.provider)}::text as provider from ${qi(ev.table)} where ${where} order by ${qi(ev.id)} limit $2`,
              [ev.failed, pay.redriveLimit],
            )
          ).rows;
      return { present: true, failedTotal: total, failed: rows };
    });
  }

  return {
    async paymentsInspect(target: string): Promise<PaymentsEvidence> {
      const { pay, app } = specOf(target);
      const providers: ProviderEvidence[] = [];
      for (const [name, p] of Object.entries(pay.providers)) {
        const url = new URL(p.webhookPath, app.url).toString();
        let mode: ProviderEvidence['mode'] = null;
        if (p.mode) {
          const raw = await readFile(p.mode.envFile, 'utf8').then(
            (t) => envFileValue(t, p.mode!.variable),
            () => null,
          );
          // An API key never leaves the worker: only its mode is read, even when keyPrefix was forgotten.
          const asKey = p.mode.keyPrefix || looksSecret(raw);
          mode = {
            expected: p.mode.expected,
            actual: asKey ? keyMode(raw) : raw,
            source: `${p.mode.variable} in ${p.mode.envFile}${asKey ? " (the key's prefix)" : ''}`,
          };
        }
        const secret = targets.webhookSecret(target, name);
        // A test event the app should accept and ignore: an id and a type no handler acts on.
        const body = JSON.stringify({
          id: `evt_rb_probe_${randomUUID().replace(/-/g, '')}`,
          object: 'event',
          type: 'durable_runbooks.webhook_probe',
          data: { object: {} },
        });
        const signed = secret ? await post(target, url, body, signWebhook(p, body, secret)) : null;
        const badlySigned = await post(target, url, body, signWebhook(p, body, WRONG_SECRET));
        providers.push({ name, scheme: p.scheme, url, mode, secretSet: secret !== undefined, signed, badlySigned });
      }
      const at = pay.attempts;
      const attempts = await withPg(targets, target, async (c) => {
        if ((await c.query<{ t: string | null }>('select to_regclass($1) as t', [at.table])).rows[0]?.t == null)
          return [];
        return (
          await c.query<{ provider: string; status: string; n: string }>(
            `select ${qi(at.provider)}::text as provider, ${qi(at.status)}::text as status, count(*) as n from ${qi(at.table)} group by 1, 2 order by 1, 2`,
          )
        ).rows.map((r) => ({ ...r, n: Number(r.n) }));
      });
      return { providers, attempts, events: await failedEvents(target) };
    },

    /** Failed events now; with `ids`, which of those are still failed (verify). */
    async paymentsFailedEvents(target: string, ids?: string[]): Promise<PaymentsEvidence['events']> {
      return failedEvents(target, ids);
    },

    /**
     * Sends each failed event again to its provider's webhook endpoint, as received (the body read
     * from the app's record) and freshly signed with the provider's secret. The app keys its
     * processing by event id, so a re-drive of an event already processed changes nothing.
     */
    async paymentsRedrive(target: string, ids: string[]): Promise<RedriveOutcome[]> {
      const { pay, app } = specOf(target);
      const ev = pay.events;
      const rows = await withPg(
        targets,
        target,
        async (c) =>
          (
            await c.query<{ id: string; provider: string; payload: string }>(
              `select ${qi(ev.id)}::text as id, ${qi(ev.provider)}::text as provider, ${qi(ev.payload)}::text as payload from ${qi(ev.table)} where ${qi(ev.id)}::text = any($1) and ${qi(ev.status)} = any($2) order by ${qi(ev.id)}`,
              [ids, ev.failed],
            )
          ).rows,
      );
      // Only events still failed now: one processed meanwhile (redelivered by the provider, or sent
      // by an earlier attempt of this step) is not sent again.
      const out: RedriveOutcome[] = ids
        .filter((id) => !rows.some((r) => r.id === id))
        .map((id) => ({ id, provider: '?', status: null, ok: true, detail: 'no longer failed: not sent again' }));
      for (const r of rows) {
        const p = ownEntry(pay.providers, r.provider);
        const secret = targets.webhookSecret(target, r.provider);
        if (!p || !secret) {
          out.push({
            id: r.id,
            provider: r.provider,
            status: null,
            ok: false,
            detail: p
              ? `no signing secret on the worker (${p.secretEnv})`
              : `provider ${r.provider} is not declared under payments.providers`,
          });
          continue;
        }
        const a = await post(
          target,
          new URL(p.webhookPath, app.url).toString(),
          r.payload,
          signWebhook(p, r.payload, secret),
        );
        out.push({
          id: r.id,
          provider: r.provider,
          status: a.status,
          ok: a.status !== null && a.status >= 200 && a.status < 300,
          detail: a.error ? `${a.error.kind}: ${a.error.detail}` : a.body,
        });
      }
      return out;
    },
  };
}
