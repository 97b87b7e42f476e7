/**
 * Records real histories of every runbook into test/histories/ for the replay test (CI replays
 * them against today's code). Run after adding a runbook or a new path through one:
 *   npx tsx scripts/record-histories.ts [--only <name prefix>]
 * Starts its own dev server and worker; needs the machine's PostgreSQL (database "test") and
 * Redis. With --only, every scenario runs but only the matching histories are written: recorded
 * histories of older code stay as they are (they must keep replaying).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { RunbookClient } from '../src/client.js';
import { startDevServer } from '../src/temporal/devserver.js';
import { publicKeyOf } from '../src/contract/signing.js';
import { TargetRegistry } from '../src/targets.js';
import { resolveTemporalCli } from '../src/temporal/cli.js';
import { createWorker } from '../src/worker.js';
import { celeryWorkerService, killWorker, publishItems, workerFiles } from '../test/support/imports.js';
import { freePort } from '../test/support/ports.js';
import { killWeb, startWeb, webAppService, webFiles } from '../test/support/webapp.js';
import { serveStatic } from '../test/support/static.js';
import { days, issue, makeCa, pkcs12 } from '../test/support/tls.js';

Runtime.install({ logger: new DefaultLogger('WARN') });
const out = path.resolve(import.meta.dirname, '../test/histories');
const only = process.argv.includes('--only') ? (process.argv[process.argv.indexOf('--only') + 1] ?? '') : '';
const dir = path.join(os.tmpdir(), `record-${Date.now()}`);
mkdirSync(dir, { recursive: true });
const targetsFile = path.join(dir, 'targets.yaml');
const app = path.resolve(import.meta.dirname, '../test/fixtures/gestiq-lite');
// The database runbooks act on their own databases, built from the fixture.
const psqlAdmin = (sql: string) => execa('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-qc', sql]);
const relDb = `rec_release_${Date.now().toString(36)}`;
const failDb = `rec_failed_${Date.now().toString(36)}`;
const driftDb = `rec_drift_${Date.now().toString(36)}`;
const importsDb = `rec_imports_${Date.now().toString(36)}`;
const einvDb = `rec_einv_${Date.now().toString(36)}`;
const payDb = `rec_pay_${Date.now().toString(36)}`;
for (const [name, rev] of [
  [relDb, '0003_invoices'],
  [failDb, '0003_invoices'],
  [driftDb, 'head'],
  [importsDb, '0004_imports_payments'],
  [einvDb, 'head'],
  [payDb, 'head'],
] as const) {
  await psqlAdmin(`create database ${name}`);
  await execa('/usr/bin/python3', ['-m', 'alembic', 'upgrade', rev], {
    cwd: app,
    env: { DATABASE_URL: `postgresql+psycopg2://postgres@127.0.0.1:5432/${name}` },
  });
}
// schema-drift retries its failing statement only as the app's own role, never a superuser.
await psqlAdmin('do $$ begin create role gestiq_app login; exception when duplicate_object then null; end $$');
await execa('psql', [
  '-h',
  '127.0.0.1',
  '-U',
  'postgres',
  '-d',
  driftDb,
  '-qc',
  'grant select, insert, update, delete on all tables in schema public to gestiq_app',
]);
// migration-failed's story: an invoice 0005's CHECK refuses, then the deploy's upgrade fails half-way.
await execa('psql', [
  '-h',
  '127.0.0.1',
  '-U',
  'postgres',
  '-d',
  failDb,
  '-qc',
  "insert into invoices (tenant_id, total_cents, estado) values (1, 500, 'anulada')",
]);
await execa('/usr/bin/python3', ['-m', 'alembic', 'upgrade', 'head'], {
  cwd: app,
  reject: false,
  env: { DATABASE_URL: `postgresql+psycopg2://postgres@127.0.0.1:5432/${failDb}` },
});
// stuck-imports' story: items queued and published, the broker lost the messages, the worker is down.
const broker = 'redis://127.0.0.1:6379/15';
const files = workerFiles(dir);
await execa('redis-cli', ['-n', '15', 'flushdb']);
await execa('psql', [
  '-h',
  '127.0.0.1',
  '-U',
  'postgres',
  '-d',
  importsDb,
  '-qc',
  "update import_items set status = 'queued' where id <= 3",
]);
await publishItems(broker, [1, 2, 3]);
await execa('redis-cli', ['-n', '15', 'del', 'imports']);
// connection-refused's story: the web app is down (never started); observability-check then finds it healthy.
const web = webFiles(path.join(dir, 'web'));
mkdirSync(web.dir, { recursive: true });
const webPort = await freePort();
mkdirSync(path.join(dir, 'repo/templates'), { recursive: true });
writeFileSync(path.join(dir, 'repo/templates/factura.html'), '<html>factura</html>\n');
// pwa-stale-cache's story: version 1.0.0 served under /tenant/, 1.1.0 expected; the redeploy writes it.
mkdirSync(path.join(dir, 'dist/assets'), { recursive: true });
writeFileSync(path.join(dir, 'dist/version.json'), JSON.stringify({ version: '1.0.0' }));
writeFileSync(path.join(dir, 'dist/index.html'), '<script type="module" src="/tenant/assets/app.js"></script>');
writeFileSync(path.join(dir, 'dist/assets/app.js'), '');
const pwaServer = await serveStatic(path.join(dir, 'dist'), '/tenant/', () => 'no-cache');
// login-errors' story: the rate limiter refuses logins; its remediation turns it off and restarts the app.
const loginWeb = webFiles(path.join(dir, 'login'));
mkdirSync(loginWeb.dir, { recursive: true });
const loginOpts = { port: await freePort(), env: { RATE_LIMIT_ENABLED: '1', RATE_LIMIT_PER_MINUTE: '1' } };
// payments-failed's story: a Stripe webhook event the app recorded as failed is re-driven.
const payPsql = (q: string) => execa('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', payDb, '-qc', q]);
await payPsql(
  'create table payment_webhook_events (event_id text primary key, provider text not null, status text not null, payload text not null, error text)',
);
await payPsql("update pos_payments set status = 'pending' where id = 4");
await payPsql(
  `insert into payment_webhook_events values ('evt_rec_1', 'stripe', 'failed', '${JSON.stringify({ id: 'evt_rec_1', object: 'event', type: 'payment_intent.succeeded', data: { object: { metadata: { payment_id: '4' } } } })}', 'lock timeout')`,
);
const payWeb = webFiles(path.join(dir, 'pay'));
mkdirSync(payWeb.dir, { recursive: true });
const payOpts = {
  port: await freePort(),
  databaseUrl: `postgresql+psycopg2://postgres@127.0.0.1:5432/${payDb}`,
  env: { STRIPE_WEBHOOK_SECRET: 'whsec_rec', STRIPE_SECRET_KEY: 'sk_live_rec' },
};
// einvoicing-failed's story: the fixture's rejected invoices are emitted again through the app.
const einvWeb = webFiles(path.join(dir, 'einv'));
mkdirSync(einvWeb.dir, { recursive: true });
const einvOpts = {
  port: await freePort(),
  databaseUrl: `postgresql+psycopg2://postgres@127.0.0.1:5432/${einvDb}`,
  env: { EINVOICE_ENV: 'prod' },
};
const sriCa = await makeCa(path.join(dir, 'sri-ca'), 'SRI Test CA');
const firma = await pkcs12(
  sriCa,
  'firma',
  await issue(sriCa, 'firma', ['DNS:gestiq.example'], { from: days(-30), to: days(300) }),
  'firma-rec',
);
// The scenarios also start runs unsigned, as the Temporal UI would: each target allows that (tests' writeTargets does the same).
const allowUnsignedStarts = (targets: Record<string, Record<string, unknown> & { policy?: Record<string, unknown> }>) =>
  Object.fromEntries(
    Object.entries(targets).map(([name, t]) => [name, { ...t, policy: { unsignedStarts: 'allow', ...t.policy } }]),
  );
writeFileSync(
  targetsFile,
  stringify({
    targets: allowUnsignedStarts({
      'rec-web': {
        app: { url: `http://127.0.0.1:${webPort}`, service: 'api', logFile: web.logFile },
        services: { api: webAppService(web, { port: webPort }) },
        policy: { unsignedDecisions: 'allow' },
      },
      'rec-pwa': {
        pwa: {
          url: pwaServer.url,
          basePath: '/tenant/',
          expectedVersion: '1.1.0',
          redeploy: { command: `echo '{"version":"1.1.0"}' > '${path.join(dir, 'dist/version.json')}'` },
        },
        policy: { unsignedDecisions: 'allow' },
      },
      'rec-files': {
        app: {
          url: `http://127.0.0.1:${webPort}`,
          service: 'api',
          dir: path.join(dir, 'app'),
          files: [{ path: 'templates/factura.html', source: path.join(dir, 'repo/templates/factura.html') }],
        },
        services: { api: webAppService(web, { port: webPort }) },
        policy: { unsignedDecisions: 'allow' },
      },
      'rec-login': {
        app: { url: `http://127.0.0.1:${loginOpts.port}`, service: 'api', logFile: loginWeb.logFile },
        services: { api: webAppService(loginWeb, loginOpts) },
        login: { rateLimit: { envFile: loginWeb.envFile }, authFailures: { window: '1s' } },
        remediations: {
          'disable-rate-limit': {
            command: `sed -i 's/^RATE_LIMIT_ENABLED=.*/RATE_LIMIT_ENABLED=0/' '${loginWeb.envFile}'`,
            fixes: ['rate-limited'],
            restart: 'api',
          },
        },
        policy: { unsignedDecisions: 'allow' },
      },
      'rec-pay': {
        postgres: { host: '127.0.0.1', port: 5432, database: payDb, user: 'postgres' },
        app: { url: `http://127.0.0.1:${payOpts.port}`, service: 'api', logFile: payWeb.logFile },
        services: { api: webAppService(payWeb, payOpts) },
        payments: {
          providers: {
            stripe: {
              scheme: 'stripe',
              webhookPath: '/payments/stripe/webhook',
              secretEnv: 'REC_STRIPE_WEBHOOK_SECRET',
              mode: { expected: 'live', envFile: payWeb.envFile, variable: 'STRIPE_SECRET_KEY', keyPrefix: true },
            },
          },
        },
        policy: { unsignedDecisions: 'allow' },
      },
      'rec-einv': {
        postgres: { host: '127.0.0.1', port: 5432, database: einvDb, user: 'postgres' },
        app: { url: `http://127.0.0.1:${einvOpts.port}`, service: 'api', logFile: einvWeb.logFile },
        services: { api: webAppService(einvWeb, einvOpts) },
        einvoicing: {
          certificate: { file: firma, passwordEnv: 'REC_P12_PASSWORD' },
          environment: { expected: 'prod', envFile: einvWeb.envFile },
        },
        policy: { unsignedDecisions: 'allow' },
      },
      'rec-db': {
        postgres: { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' },
        alembic: { dir: app },
      },
      'rec-drill': {},
      'rec-redis': { redis: { url: 'redis://127.0.0.1:6379/0' } },
      'rec-open': { policy: { unsignedDecisions: 'allow' } },
      'rec-release': {
        postgres: { host: '127.0.0.1', port: 5432, database: relDb, user: 'postgres' },
        alembic: { dir: app },
        freezeWrites: 'read-only',
        backups: { dir: path.join(dir, 'backups') },
        policy: { unsignedDecisions: 'allow' },
      },
      'rec-drift': {
        postgres: { host: '127.0.0.1', port: 5432, database: driftDb, user: 'postgres', appUser: 'gestiq_app' },
        alembic: { dir: app },
        backups: { dir: path.join(dir, 'backups') },
        policy: { unsignedDecisions: 'allow' },
      },
      'rec-imports': {
        postgres: { host: '127.0.0.1', port: 5432, database: importsDb, user: 'postgres' },
        redis: { url: broker },
        services: { worker: celeryWorkerService(files, importsDb, broker) },
        policy: { unsignedDecisions: 'allow' },
        imports: {
          stuckAfter: '0s',
          logs: { file: files.logFile },
          service: 'worker',
          celery: { app: 'gestiq_imports', task: 'gestiq.imports.process_item', cwd: app },
        },
      },
      'rec-failed': {
        postgres: { host: '127.0.0.1', port: 5432, database: failDb, user: 'postgres' },
        alembic: { dir: app },
        backups: { dir: path.join(dir, 'backups') },
        policy: { unsignedDecisions: 'allow' },
      },
    }),
  }),
);
const key = randomBytes(32).toString('hex');
const server = await startDevServer({
  cli: await resolveTemporalCli(),
  port: 17000 + Math.floor(Math.random() * 1000),
  headless: true,
});
const native = await NativeConnection.connect({ address: server.address });
const targets = TargetRegistry.load(targetsFile, {
  ...process.env,
  REC_P12_PASSWORD: 'firma-rec',
  REC_STRIPE_WEBHOOK_SECRET: 'whsec_rec',
});
const worker = await createWorker({
  connection: native,
  address: server.address,
  namespace: 'default',
  taskQueue: 'record',
  targets,
  decisionPublicKey: publicKeyOf(key),
});
const running = worker.run();
const connection = await Connection.connect({ address: server.address });
const client = new RunbookClient(new Client({ connection }), {
  taskQueue: 'record',
  namespace: 'default',
  uiUrl: 'http://localhost:8233',
  targets: () => targets,
  signingKey: key,
});
const unsigned = new RunbookClient(new Client({ connection }), {
  taskQueue: 'record',
  namespace: 'default',
  uiUrl: 'http://localhost:8233',
  targets: () => targets,
});

const gateOpen = async (id: string) => {
  while ((await client.status(id)).pendingGates.length === 0) await new Promise((r) => setTimeout(r, 100));
};
const save = async (name: string, id: string) => {
  await client.temporal.workflow
    .getHandle(id)
    .result()
    .catch(() => undefined);
  if (!name.startsWith(only)) return;
  const history = await client.temporal.workflow.getHandle(id).fetchHistory();
  writeFileSync(path.join(out, `${name}.json`), `${historyToJSON(history)}\n`);
  console.log(`recorded ${name} (${history.events?.length} events)`);
};

const db = await client.start('db-access', { target: 'rec-db', initiator: 'alice' });
await save('db-access-completed', db.id);

const redisHealth = await client.start('redis-health', { target: 'rec-redis', initiator: 'alice' });
await save('redis-health-completed', redisHealth.id);

// preflight: every check of a database target, from the worker (runbook preflight <target> starts it).
const preflight = await client.start('preflight', { target: 'rec-db', initiator: 'alice' });
await save('preflight-completed', preflight.id);

const signed = await client.start('approval-drill', { target: 'rec-drill', initiator: 'alice' });
await gateOpen(signed.id);
await client
  .decide(signed.id, 'proceed', { decision: 'approve' }, { person: 'alice', roles: ['approver'] })
  .catch(() => undefined); // four-eyes refusal
await client.decide(
  signed.id,
  'proceed',
  { decision: 'approve', comment: 'recorded' },
  { person: 'bob', roles: ['approver'] },
);
await save('approval-drill-signed-approval', signed.id);

const signal = await unsigned.start('approval-drill', { target: 'rec-open', initiator: 'alice' });
await gateOpen(signal.id);
await unsigned.temporal.workflow
  .getHandle(signal.id)
  .signal('decide', { gate: 'proceed', decision: 'approve', by: 'bob', roles: ['approver'] });
await save('approval-drill-signal-approval', signal.id);

const rejected = await unsigned.start('approval-drill', { target: 'rec-open', initiator: 'alice' });
await gateOpen(rejected.id);
await unsigned.decide(
  rejected.id,
  'proceed',
  { decision: 'reject', comment: 'recorded rejection' },
  { person: 'bob', roles: ['approver'] },
);
await save('approval-drill-rejected', rejected.id);

const locked = await unsigned.start('approval-drill', {
  target: 'rec-open',
  initiator: 'alice',
  input: { takeLock: true },
});
await gateOpen(locked.id);
await unsigned.decide(locked.id, 'proceed', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
await save('approval-drill-locked', locked.id);

const bob = { person: 'bob', roles: ['approver'] };
const release = await unsigned.start('release-migration', { target: 'rec-release', initiator: 'alice' });
await gateOpen(release.id);
await unsigned.decide(release.id, 'freeze-writes', { decision: 'approve' }, bob);
while (!(await client.status(release.id)).pendingGates.some((g) => g.gate === 'upgrade'))
  await new Promise((r) => setTimeout(r, 100));
await unsigned.decide(release.id, 'upgrade', { decision: 'approve' }, bob);
await save('release-migration-upgraded', release.id);

const repair = await unsigned.start('migration-failed', {
  target: 'rec-failed',
  initiator: 'alice',
  input: { toRevision: '0004_imports_payments', rootCauseDeadline: '1s' },
});
await gateOpen(repair.id);
await unsigned.decide(repair.id, 'freeze-writes', { decision: 'approve' }, bob);
while (!(await client.status(repair.id)).pendingGates.some((g) => g.gate === 'downgrade'))
  await new Promise((r) => setTimeout(r, 100));
await unsigned.decide(repair.id, 'downgrade', { decision: 'approve' }, bob);
await save('migration-failed-leftovers-dropped', repair.id);

const drift = await unsigned.start('schema-drift', {
  target: 'rec-drift',
  initiator: 'alice',
  input: { retrySql: 'select name_display from tenants' },
});
await gateOpen(drift.id);
await unsigned.decide(drift.id, 'apply-revision', { decision: 'approve' }, bob);
while (!(await client.status(drift.id)).pendingGates.some((g) => g.gate === 'confirm-commit'))
  await new Promise((r) => setTimeout(r, 100));
await unsigned.decide(drift.id, 'confirm-commit', { decision: 'approve', comment: '3f9c2ab' }, bob);
await save('schema-drift-applied', drift.id);

const janitor = await unsigned.start('janitor', { target: 'rec-release', initiator: 'alice', dryRun: true });
await save('janitor-dry-run', janitor.id);

const imports = await unsigned.start('stuck-imports', {
  target: 'rec-imports',
  initiator: 'alice',
  input: { verifyDeadline: '60s' },
});
await gateOpen(imports.id);
await unsigned.decide(imports.id, 'remediate', { decision: 'approve' }, bob);
while (!(await client.status(imports.id)).pendingGates.some((g) => g.gate === 'restart-worker'))
  await new Promise((r) => setTimeout(r, 100));
await unsigned.decide(imports.id, 'restart-worker', { decision: 'approve' }, bob);
await save('stuck-imports-remedied', imports.id);
await killWorker(files);
await execa('redis-cli', ['-n', '15', 'flushdb']);

const refused = await unsigned.start('connection-refused', { target: 'rec-web', initiator: 'alice' });
await gateOpen(refused.id);
await unsigned.decide(refused.id, 'force-recreate', { decision: 'approve' }, bob);
await save('connection-refused-restarted', refused.id);
const observed = await unsigned.start('observability-check', { target: 'rec-web', initiator: 'alice' });
await save('observability-check-completed', observed.id);
const copied = await unsigned.start('missing-container-file', { target: 'rec-files', initiator: 'alice' });
await gateOpen(copied.id);
await unsigned.decide(copied.id, 'copy-in', { decision: 'approve' }, bob);
await save('missing-container-file-copied', copied.id);
const pwaRun = await unsigned.start('pwa-stale-cache', { target: 'rec-pwa', initiator: 'alice' });
await gateOpen(pwaRun.id);
await unsigned.decide(pwaRun.id, 'redeploy', { decision: 'approve' }, bob);
await save('pwa-stale-cache-redeployed', pwaRun.id);
await pwaServer.close();
await killWeb(web);
await startWeb(loginWeb, loginOpts);
for (let i = 0; i < 3; i++)
  await fetch(`http://127.0.0.1:${loginOpts.port}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"username":"ana","password":"typo"}',
  });
const loginRun = await unsigned.start('login-errors', { target: 'rec-login', initiator: 'alice' });
await gateOpen(loginRun.id);
await unsigned.decide(loginRun.id, 'remediate', { decision: 'approve' }, bob);
await save('login-errors-remedied', loginRun.id);
await killWeb(loginWeb);
await startWeb(einvWeb, einvOpts);
const einvRun = await unsigned.start('einvoicing-failed', { target: 'rec-einv', initiator: 'alice' });
await gateOpen(einvRun.id);
await unsigned.decide(einvRun.id, 'retry-emission', { decision: 'approve' }, bob);
await save('einvoicing-failed-retried', einvRun.id);
await killWeb(einvWeb);
await startWeb(payWeb, payOpts);
const payRun = await unsigned.start('payments-failed', { target: 'rec-pay', initiator: 'alice' });
await gateOpen(payRun.id);
await unsigned.decide(payRun.id, 'redrive', { decision: 'approve' }, bob);
await save('payments-failed-redriven', payRun.id);
await killWeb(payWeb);

for (const d of (
  await execa('psql', [
    '-h',
    '127.0.0.1',
    '-U',
    'postgres',
    '-d',
    'postgres',
    '-Atc',
    `select datname from pg_database where datname like '${relDb}%' or datname like '${failDb}%' or datname like '${driftDb}%' or datname like '${importsDb}%' or datname like '${einvDb}%' or datname like '${payDb}%'`,
  ])
).stdout
  .split('\n')
  .filter(Boolean))
  await psqlAdmin(`drop database "${d}" with (force)`);

worker.shutdown();
await running;
await native.close();
await connection.close();
await server.stop();
