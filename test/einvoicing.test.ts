import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEinvoicingActivities } from '../src/activities/einvoicing.js';
import { TargetRegistry } from '../src/targets.js';
import type { EinvoicingFindings } from '../src/runbooks/einvoicing-failed/workflow.js';
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
import { days, issue, makeCa, pkcs12 } from './support/tls.js';
import { killWeb, startWeb, webAppService, webFiles, type WebOptions } from './support/webapp.js';

// einvoicing-failed on the fixture's database and web app: invoices the provider rejected, a real
// PKCS#12 signing certificate (legacy and expired ones made with openssl), the app's env file; the
// retry goes through the app's endpoint with an Idempotency-Key per invoice, counted in its log.
describe('einvoicing-failed', () => {
  let rig: TestRig;
  const bob = { person: 'bob', roles: ['approver'] };
  const P12_PASSWORD = `firma-${Math.random().toString(36).slice(2)}`;
  const databases: string[] = [];
  const web: Array<{ files: WorkerFiles; opts: WebOptions }> = [];

  async function app(database: string, env: Record<string, string>) {
    const files = webFiles(tmpDir('einv-'));
    const opts: WebOptions = {
      port: await freePort(),
      databaseUrl: `postgresql+psycopg2://${PG.user}@${PG.host}:${PG.port}/${database}`,
      env,
    };
    web.push({ files, opts });
    return { files, opts };
  }
  const failedIds = async (db: string) =>
    (await sql<{ id: number }>(db, "select id from invoices where estado = 'rechazada' order by id")).map((r) => r.id);
  const result = async (id: string) =>
    (await finished(rig.client, id)).result as { healthy: boolean; summary: string[]; findings: EinvoicingFindings };

  let retryDb: string;
  let readDb: string;
  let retryApp: Awaited<ReturnType<typeof app>>;
  let targetsFile: string;

  beforeAll(async () => {
    retryDb = await createDatabase('einv_retry');
    readDb = await createDatabase('einv_read');
    databases.push(retryDb, readDb);
    for (const db of databases) await alembic(db, ['upgrade', 'head']);
    const ca = await makeCa(tmpDir('sri-ca-'), 'SRI Test CA');
    const current = await issue(ca, 'firma-vigente', ['DNS:gestiq.example'], { from: days(-30), to: days(300) });
    const old = await issue(ca, 'firma-vencida', ['DNS:gestiq.example'], { from: days(-400), to: days(-3) });
    const legacyP12 = await pkcs12(ca, 'vigente', current, P12_PASSWORD, { legacy: true });
    const expiredP12 = await pkcs12(ca, 'vencida', old, P12_PASSWORD);

    retryApp = await app(retryDb, { EINVOICE_ENV: 'prod' });
    const down = await app(readDb, { EINVOICE_ENV: 'prod', EINVOICE_PROVIDER: 'down' });
    const sandbox = await app(readDb, { EINVOICE_ENV: 'sandbox' });
    const target = (db: string, a: Awaited<ReturnType<typeof app>>, p12: string) =>
      pgTarget(db, {
        app: { url: `http://127.0.0.1:${a.opts.port}`, service: 'api', logFile: a.files.logFile, timeout: '5s' },
        services: { api: webAppService(a.files, a.opts) },
        einvoicing: {
          certificate: { file: p12, passwordEnv: 'EINVOICE_P12_PASSWORD' },
          environment: { expected: 'prod', envFile: a.files.envFile },
        },
        policy: { unsignedDecisions: 'allow' },
      });
    targetsFile = writeTargets({
      'einv-retry': target(retryDb, retryApp, legacyP12),
      'einv-expired': target(readDb, down, expiredP12),
      'einv-down': target(readDb, down, legacyP12),
      'einv-sandbox': target(readDb, sandbox, legacyP12),
    });
    for (const w of web) await startWeb(w.files, w.opts);
    rig = await startRig(targetsFile, { env: { ...process.env, EINVOICE_P12_PASSWORD: P12_PASSWORD } });
  });
  afterAll(async () => {
    for (const w of web) await killWeb(w.files);
    await rig?.stop();
    for (const db of databases) await dropDatabase(db);
  });

  it('rejected invoices are emitted again behind the gate, each exactly once with its own idempotency key, and the counts move', async () => {
    const before = await failedIds(retryDb);
    expect(before.length).toBeGreaterThan(0);
    const { id } = await rig.client.start('einvoicing-failed', { target: 'einv-retry', initiator: 'alice' });
    await gateOpened(rig.client, id, 'retry-emission');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'retry-emission')!;
    expect(gate.prompt).toContain(
      `${before.length} invoice(s) failed to emit on einv-retry. Cause: failed-invoices: ${before.length} invoice(s) in invoices failed to emit`,
    );
    expect(gate.prompt).toContain(`(ids ${before.join(', ')})`);
    expect(await failedIds(retryDb)).toEqual(before); // nothing before the approval
    await rig.client.decide(id, 'retry-emission', { decision: 'approve' }, bob);
    const r = await result(id);
    expect(r.findings.outcome).toBe('fixed');
    expect(r.healthy).toBe(true);
    expect(r.findings.before.certificate).toMatchObject({
      legacy: true,
      keyMatches: true,
      subject: 'CN=firma-vigente',
    });
    expect(r.findings.notChecked).toEqual(['invoices_temp: not present in the database.']);
    expect(await failedIds(retryDb)).toEqual([]);
    expect(r.summary[0]).toBe(
      `${before.length} of ${before.length} retried invoice(s) left the failed states; 0 still failed.`,
    );
    // The app's own record: one emission per invoice, under the key rb-<run id>-<invoice id>.
    const emitted = readFileSync(retryApp.files.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('app.einvoicing: emitted'));
    expect(emitted.map((l) => /invoice=(\d+) key=(\S+)/.exec(l)!.slice(1))).toEqual(
      before.map((n) => [String(n), `rb-${id}-${n}`]),
    );
    const history = await historyText(rig.client, id);
    expect(history).toContain('CN=firma-vigente'); // the payloads are read, not their bytes
    expect(history).not.toContain(P12_PASSWORD);
    // The retry step run again, as after a worker crash mid-step: it re-reads which are still
    // failed and sends none of these again (and the app would answer a repeated key from its record).
    const again = await createEinvoicingActivities(TargetRegistry.load(targetsFile, {})).einvoiceRetry(
      'einv-retry',
      before,
      `rb-${id}`,
    );
    expect(again.outcomes.map((o) => [o.id, o.status, o.detail])).toEqual(
      before.map((n) => [n, null, 'no longer failed: not sent again']),
    );
    expect(again.logLines).toEqual([]);
    expect(
      readFileSync(retryApp.files.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('app.einvoicing: emitted')),
    ).toHaveLength(before.length);
  });

  it('an expired certificate or the sandbox environment: the retry is not offered (it would fail again), and nothing is touched', async () => {
    const before = await failedIds(readDb);
    const [expired, sandbox] = await Promise.all(
      ['einv-expired', 'einv-sandbox'].map(async (t) =>
        result((await rig.client.start('einvoicing-failed', { target: t, initiator: 'alice' })).id),
      ),
    );
    expect(expired!.findings.outcome).toBe('cannot-fix');
    expect(expired!.findings.causes.map((c) => c.cause)).toEqual(['certificate-expired', 'failed-invoices']);
    expect(expired!.findings.causes[0]!.detail).toMatch(
      /^The signing certificate \(CN=firma-vencida, serial [0-9A-F]+\) expired on 20\d\d-.*Renew it with the issuer and install the new \.p12\.$/,
    );
    expect(expired!.summary).toContain(
      'Nothing was retried: a retry would fail again until certificate-expired is fixed. Then run einvoicing-failed again.',
    );
    expect(sandbox!.findings.causes.map((c) => c.cause)).toEqual(['wrong-environment', 'failed-invoices']);
    expect(sandbox!.findings.causes[0]!.detail).toContain('The app uses EINVOICE_ENV=sandbox');
    expect(await failedIds(readDb)).toEqual(before);
  });

  it("the provider down: the app refuses each retry, the run says so with the app's words, and the invoices stay failed", async () => {
    const before = await failedIds(readDb);
    const { id } = await rig.client.start('einvoicing-failed', { target: 'einv-down', initiator: 'alice' });
    await gateOpened(rig.client, id, 'retry-emission');
    await rig.client.decide(id, 'retry-emission', { decision: 'approve' }, bob);
    const r = await result(id);
    expect(r.findings.outcome).toBe('not-fixed');
    expect(r.healthy).toBe(false);
    expect(r.findings.retried?.every((x) => x.status === 502)).toBe(true);
    expect(r.summary).toContain(
      `The app refused ${before.length}: ${before
        .slice(0, 5)
        .map((n) => `#${n} → 502 {"detail":"the provider did not answer (503)"}`)
        .join('; ')}${before.length > 5 ? '; …' : ''}.`,
    );
    expect(r.summary.join('\n')).toContain('app.einvoicing: provider error invoice=');
    expect(await failedIds(readDb)).toEqual(before);
  });
});
