import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPaymentsActivities, keyMode, looksSecret, signWebhook } from '../src/activities/payments.js';
import { TargetRegistry } from '../src/targets.js';
import type { PaymentsEvidence } from '../src/activities/payments.js';
import { diagnosePayments, redrivable, type PaymentsFindings } from '../src/runbooks/payments-failed/workflow.js';
import {
  alembic,
  createDatabase,
  dropDatabase,
  finished,
  gateOpened,
  historyText,
  PG,
  pgTarget,
  sql,
  startRig,
  tmpDir,
  writeTargets,
  type TestRig,
} from './support/harness.js';
import type { WorkerFiles } from './support/imports.js';
import { freePort } from './support/ports.js';
import { killWeb, startWeb, webAppService, webFiles, type WebOptions } from './support/webapp.js';
import { registerSecrets } from './support/secrets.js';

describe('payments-failed helpers', () => {
  it("reads an API key's mode from its prefix only, and signs HMAC webhooks as declared", () => {
    expect([
      keyMode('sk_live_abc'),
      keyMode('sk_test_abc'),
      keyMode('rk_live_x'),
      keyMode('abc'),
      keyMode(null),
    ]).toEqual(['live', 'test', 'live', null, null]);
    // Read without keyPrefix, a key is still never shown: only its mode leaves the worker.
    expect([looksSecret('sk_live_abc'), looksSecret('whsec_x'), looksSecret('prod'), looksSecret(null)]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    const p = {
      scheme: 'hmac' as const,
      header: 'X-Signature',
      algorithm: 'sha256' as const,
      encoding: 'hex' as const,
    };
    // RFC 4231 test case 2: HMAC-SHA256(key "Jefe", "what do ya want for nothing?").
    expect(signWebhook(p, 'what do ya want for nothing?', 'Jefe')).toEqual({
      'x-signature': '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    });
    expect(signWebhook(p, 'x', 'k')['x-signature']).not.toBe(signWebhook(p, 'x', 'k2')['x-signature']);
  });

  it('names a signing secret missing on the worker and an endpoint that does not answer; their events are not re-drivable', () => {
    const e: PaymentsEvidence = {
      providers: [
        {
          name: 'kushki',
          scheme: 'hmac',
          url: 'http://app/k',
          mode: null,
          secretSet: false,
          signed: null,
          badlySigned: { status: 400, body: 'bad signature' },
        },
        {
          name: 'stripe',
          scheme: 'stripe',
          url: 'http://app/s',
          mode: { expected: 'live', actual: 'live', source: 'K' },
          secretSet: true,
          signed: {
            status: null,
            body: '',
            error: { kind: 'refused', code: 'ECONNREFUSED', detail: 'connect ECONNREFUSED' },
          },
          badlySigned: {
            status: null,
            body: '',
            error: { kind: 'refused', code: 'ECONNREFUSED', detail: 'connect ECONNREFUSED' },
          },
        },
      ],
      attempts: [],
      events: { present: true, failedTotal: 1, failed: [{ id: 'e1', provider: 'kushki' }] },
    };
    expect(diagnosePayments(e)).toEqual([
      {
        cause: 'secret-missing',
        provider: 'kushki',
        detail:
          "kushki: its webhook signing secret is not set on the worker: correctly signed events cannot be sent or re-driven. Set it in the worker's environment.",
      },
      {
        cause: 'webhook-unreachable',
        provider: 'stripe',
        detail: 'stripe: http://app/s does not answer (refused: connect ECONNREFUSED).',
      },
      { cause: 'failed-events', detail: '1 webhook event(s) failed in the app (kushki).' },
    ]);
    expect(redrivable(e).size).toBe(0);
  });
});

// payments-failed on the fixture's database and web app: webhook events the app recorded as failed,
// re-driven signed as Stripe (the official stripe package) and an HMAC provider do; the app keys
// them by event id, and its log counts each processing.
describe('payments-failed', () => {
  let rig: TestRig;
  let targetsFile: string;
  const bob = { person: 'bob', roles: ['approver'] };
  const STRIPE_SECRET = `whsec_${Math.random().toString(36).slice(2)}`;
  const PAYPHONE_SECRET = `pp-${Math.random().toString(36).slice(2)}`;
  const LIVE_KEY = `sk_live_${Math.random().toString(36).slice(2)}`;
  const databases: string[] = [];
  const web: Array<{ files: WorkerFiles; opts: WebOptions }> = [];
  let good: { files: WorkerFiles; opts: WebOptions };
  let goodDb: string;
  let brokenDb: string;

  async function app(database: string, env: Record<string, string>) {
    const files = webFiles(tmpDir('pay-'));
    const w = {
      files,
      opts: {
        port: await freePort(),
        databaseUrl: `postgresql+psycopg2://${PG.user}@${PG.host}:${PG.port}/${database}`,
        env,
      },
    };
    web.push(w);
    return w;
  }
  // The app's record of received webhook events (its own table), with three that failed to apply.
  async function seedEvents(db: string) {
    await sql(
      db,
      'create table payment_webhook_events (event_id text primary key, provider text not null, status text not null, payload text not null, error text)',
    );
    const ids = (
      await sql<{ id: number }>(db, "select id from pos_payments where status = 'failed' order by id limit 3")
    ).map((r) => r.id);
    await sql(db, "update pos_payments set status = 'pending' where id = any($1)", [ids]);
    for (const [i, pid] of ids.entries()) {
      const provider = i === 2 ? 'payphone' : 'stripe';
      const payload = JSON.stringify({
        id: `evt_00${i}`,
        object: 'event',
        type: provider === 'stripe' ? 'payment_intent.succeeded' : 'payment.succeeded',
        data: { object: { metadata: { payment_id: String(pid) } } },
      });
      await sql(
        db,
        "insert into payment_webhook_events values ($1, $2, 'failed', $3, 'could not obtain lock on row in relation \"pos_payments\"')",
        [`evt_00${i}`, provider, payload],
      );
    }
    return ids;
  }
  const payments = (envFile: string, stripeMode: string) => ({
    providers: {
      stripe: {
        scheme: 'stripe',
        webhookPath: '/payments/stripe/webhook',
        secretEnv: 'STRIPE_WEBHOOK_SECRET',
        mode: { expected: stripeMode, envFile, variable: 'STRIPE_SECRET_KEY', keyPrefix: true },
      },
      payphone: {
        scheme: 'hmac',
        webhookPath: '/payments/payphone/webhook',
        secretEnv: 'PAYPHONE_WEBHOOK_SECRET',
        mode: { expected: 'prod', envFile, variable: 'PAYPHONE_ENV' },
      },
      kushki: { scheme: 'hmac', webhookPath: '/payments/kushki/webhook', secretEnv: 'KUSHKI_WEBHOOK_SECRET' },
    },
  });

  beforeAll(async () => {
    registerSecrets('Stripe API key in the app env file', LIVE_KEY);
    goodDb = await createDatabase('pay_good');
    brokenDb = await createDatabase('pay_broken');
    databases.push(goodDb, brokenDb);
    for (const db of databases) {
      await alembic(db, ['upgrade', 'head']);
      await seedEvents(db);
    }
    good = await app(goodDb, {
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      PAYPHONE_WEBHOOK_SECRET: PAYPHONE_SECRET,
      KUSHKI_WEBHOOK_SECRET: 'k-secret',
      STRIPE_SECRET_KEY: LIVE_KEY,
      PAYPHONE_ENV: 'prod',
    });
    // Stripe's secret rotated on the app only; Kushki's signatures not verified; Stripe in test mode.
    const broken = await app(brokenDb, {
      STRIPE_WEBHOOK_SECRET: 'whsec_rotated',
      PAYPHONE_WEBHOOK_SECRET: PAYPHONE_SECRET,
      KUSHKI_WEBHOOK_SECRET: 'k-secret',
      KUSHKI_VERIFY: '0',
      STRIPE_SECRET_KEY: 'sk_test_abc',
      PAYPHONE_ENV: 'prod',
    });
    const target = (db: string, w: typeof good, stripeMode: string) =>
      pgTarget(db, {
        app: { url: `http://127.0.0.1:${w.opts.port}`, service: 'api', logFile: w.files.logFile, timeout: '5s' },
        services: { api: webAppService(w.files, w.opts) },
        payments: payments(w.files.envFile, stripeMode),
        policy: { unsignedDecisions: 'allow' },
      });
    targetsFile = writeTargets({
      'pay-good': target(goodDb, good, 'live'),
      'pay-broken': target(brokenDb, broken, 'live'),
    });
    for (const w of web) await startWeb(w.files, w.opts);
    rig = await startRig(targetsFile, {
      env: {
        ...process.env,
        STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
        PAYPHONE_WEBHOOK_SECRET: PAYPHONE_SECRET,
        KUSHKI_WEBHOOK_SECRET: 'k-secret',
      },
    });
  });
  afterAll(async () => {
    for (const w of web) await killWeb(w.files);
    await rig?.stop();
    for (const db of databases) await dropDatabase(db);
  });

  const processed = () =>
    readFileSync(good.files.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('app.payments: processed'));

  it('failed webhook events are re-driven behind the gate, signed as Stripe and the HMAC provider do; each payment is applied once; a re-run step sends nothing again, a redelivery applies nothing', async () => {
    const pending = (
      await sql<{ id: number }>(goodDb, "select id from pos_payments where status = 'pending' order by id")
    ).map((r) => r.id);
    const { id } = await rig.client.start('payments-failed', { target: 'pay-good', initiator: 'alice' });
    await gateOpened(rig.client, id, 'redrive');
    const status = await rig.client.status(id);
    const gate = status.pendingGates.find((g) => g.gate === 'redrive')!;
    expect(gate.prompt).toContain(
      '3 payment webhook event(s) failed on pay-good. Cause: failed-events: 3 webhook event(s) failed in the app (stripe, payphone).',
    );
    expect(gate.prompt).toContain('Plan: send 3 again to their webhook endpoints (evt_000, evt_001, evt_002)');
    const inspect = status.journal?.find((e) => e.step === 'inspect')?.evidence as {
      providers: Array<{
        name: string;
        signed: { status: number };
        badlySigned: { status: number };
        mode: { actual: string } | null;
      }>;
    };
    expect(
      inspect.providers.map((p) => [p.name, p.signed.status, p.badlySigned.status, p.mode?.actual ?? null]),
    ).toEqual([
      ['stripe', 200, 400, 'live'],
      ['payphone', 200, 400, 'prod'],
      ['kushki', 200, 400, null],
    ]);
    expect(processed()).toHaveLength(0);
    await rig.client.decide(id, 'redrive', { decision: 'approve' }, bob);
    const r = (await finished(rig.client, id)).result as {
      healthy: boolean;
      summary: string[];
      findings: PaymentsFindings;
    };
    expect(r.findings.outcome).toBe('fixed');
    expect(r.healthy).toBe(true);
    expect(r.summary[0]).toBe('3 of 3 re-driven event(s) were processed; 0 failed event(s) left.');
    expect(
      (
        await sql<{ status: string }>(goodDb, 'select status from pos_payments where id = any($1) order by id', [
          pending,
        ])
      ).map((x) => x.status),
    ).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(
      processed()
        .map((l) => /event=(\S+)/.exec(l)![1])
        .sort(),
    ).toEqual(['evt_000', 'evt_001', 'evt_002']);
    // The step run again (a worker crash after sending): the app keys by event id, nothing is applied twice.
    const again = await createPaymentsActivities(
      TargetRegistry.load(targetsFile, {
        STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
        PAYPHONE_WEBHOOK_SECRET: PAYPHONE_SECRET,
      }),
    ).paymentsRedrive('pay-good', ['evt_000', 'evt_001', 'evt_002']);
    expect(again.map((o) => [o.id, o.status, o.detail])).toEqual(
      ['evt_000', 'evt_001', 'evt_002'].map((e) => [e, null, 'no longer failed: not sent again']),
    );
    expect(processed()).toHaveLength(3);
    // And had one been sent again (the provider redelivering it), the app keys it by event id.
    const payload = (
      await sql<{ payload: string }>(goodDb, "select payload from payment_webhook_events where event_id = 'evt_000'")
    )[0]!.payload;
    const redelivered = await fetch(`http://127.0.0.1:${good.opts.port}/payments/stripe/webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signWebhook({ scheme: 'stripe', header: '', algorithm: 'sha256', encoding: 'hex' }, payload, STRIPE_SECRET),
      },
      body: payload,
    });
    expect(await redelivered.json()).toEqual({ duplicate: 'evt_000' });
    expect(processed()).toHaveLength(3);
    const history = await historyText(rig.client, id);
    expect(history).toContain('evt_001'); // the payloads are read, not their bytes
    for (const secret of [STRIPE_SECRET, PAYPHONE_SECRET, LIVE_KEY]) expect(history).not.toContain(secret);
  });

  it('a rotated Stripe secret, an endpoint that takes any signature and a test-mode key are each named; nothing is re-driven through a webhook that refuses it', async () => {
    const before = await sql(brokenDb, 'select event_id, status from payment_webhook_events order by 1');
    const r = (
      await finished(
        rig.client,
        (await rig.client.start('payments-failed', { target: 'pay-broken', initiator: 'alice', dryRun: true })).id,
      )
    ).result as { summary: string[]; findings: PaymentsFindings };
    expect(r.findings.causes.map((c) => [c.cause, c.provider ?? null])).toEqual([
      ['mode-mismatch', 'stripe'],
      ['webhook-rejects-signed', 'stripe'],
      ['webhook-accepts-unsigned', 'kushki'],
      ['failed-events', null],
    ]);
    expect(r.findings.causes[0]!.detail).toContain('stripe: the app runs it in test (STRIPE_SECRET_KEY in');
    expect(r.findings.causes[1]!.detail).toContain(
      'answers 400 to a correctly signed test event ({"detail":"bad signature"})',
    );
    // Payphone's event has a working webhook: it alone would be re-driven; Stripe's two are held back.
    expect(r.findings.outcome).toBe('dry-run');
    const dry = r;
    expect(dry.summary).toContain(
      'Would re-drive 1 event(s), each signed as its provider does; the app keys them by event id.',
    );
    expect(dry.summary).toContain(
      'Not re-driven: 2 event(s) of stripe, whose webhook or mode is wrong (above): fix that first, then run payments-failed again.',
    );
    expect(await sql(brokenDb, 'select event_id, status from payment_webhook_events order by 1')).toEqual(before);
    expect(JSON.stringify(r)).not.toContain('sk_test_abc');
  });
});
