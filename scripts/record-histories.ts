/**
 * Records real histories of every runbook into test/histories/ for the replay test (CI replays
 * them against today's code). Run after adding a runbook or a new path through one:
 *   npx tsx scripts/record-histories.ts
 * Starts its own dev server and worker; needs the machine's PostgreSQL (database "test").
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { stringify } from 'yaml';
import { RunbookClient } from '../src/client.js';
import { startDevServer } from '../src/devserver.js';
import { publicKeyOf } from '../src/signing.js';
import { TargetRegistry } from '../src/targets.js';
import { resolveTemporalCli } from '../src/temporal-cli.js';
import { createWorker } from '../src/worker.js';

Runtime.install({ logger: new DefaultLogger('WARN') });
const out = path.resolve(import.meta.dirname, '../test/histories');
const dir = path.join(os.tmpdir(), `record-${Date.now()}`);
mkdirSync(dir, { recursive: true });
const targetsFile = path.join(dir, 'targets.yaml');
const app = path.resolve(import.meta.dirname, '../test/fixtures/gestiq-lite');
writeFileSync(targetsFile, stringify({ targets: {
  'rec-db': { postgres: { host: '127.0.0.1', port: 5432, database: 'test', user: 'postgres' }, alembic: { dir: app } },
  'rec-drill': {},
  'rec-open': { policy: { unsignedDecisions: 'allow' } },
} }));
const key = randomBytes(32).toString('hex');
const server = await startDevServer({ cli: await resolveTemporalCli(), port: 17000 + Math.floor(Math.random() * 1000), headless: true });
const native = await NativeConnection.connect({ address: server.address });
const targets = TargetRegistry.load(targetsFile);
const worker = await createWorker({ connection: native, address: server.address, namespace: 'default', taskQueue: 'record', targets, decisionPublicKey: publicKeyOf(key) });
const running = worker.run();
const connection = await Connection.connect({ address: server.address });
const client = new RunbookClient(new Client({ connection }), { taskQueue: 'record', namespace: 'default', uiUrl: 'http://localhost:8233', targets: () => targets, signingKey: key });
const unsigned = new RunbookClient(new Client({ connection }), { taskQueue: 'record', namespace: 'default', uiUrl: 'http://localhost:8233', targets: () => targets });

const gateOpen = async (id: string) => {
  while ((await client.status(id)).pendingGates.length === 0) await new Promise((r) => setTimeout(r, 100));
};
const save = async (name: string, id: string) => {
  await client.temporal.workflow.getHandle(id).result().catch(() => undefined);
  const history = await client.temporal.workflow.getHandle(id).fetchHistory();
  writeFileSync(path.join(out, `${name}.json`), `${historyToJSON(history)}\n`);
  console.log(`recorded ${name} (${history.events?.length} events)`);
};

const db = await client.start('db-access', { target: 'rec-db', initiator: 'alice' });
await save('db-access-completed', db.id);

const signed = await client.start('approval-drill', { target: 'rec-drill', initiator: 'alice' });
await gateOpen(signed.id);
await client.decide(signed.id, 'proceed', { decision: 'approve' }, { person: 'alice', roles: ['approver'] }).catch(() => undefined); // four-eyes refusal
await client.decide(signed.id, 'proceed', { decision: 'approve', comment: 'recorded' }, { person: 'bob', roles: ['approver'] });
await save('approval-drill-signed-approval', signed.id);

const signal = await unsigned.start('approval-drill', { target: 'rec-open', initiator: 'alice' });
await gateOpen(signal.id);
await unsigned.temporal.workflow.getHandle(signal.id).signal('decide', { gate: 'proceed', decision: 'approve', by: 'bob', roles: ['approver'] });
await save('approval-drill-signal-approval', signal.id);

const rejected = await unsigned.start('approval-drill', { target: 'rec-open', initiator: 'alice' });
await gateOpen(rejected.id);
await unsigned.decide(rejected.id, 'proceed', { decision: 'reject', comment: 'recorded rejection' }, { person: 'bob', roles: ['approver'] });
await save('approval-drill-rejected', rejected.id);

const locked = await unsigned.start('approval-drill', { target: 'rec-open', initiator: 'alice', input: { takeLock: true } });
await gateOpen(locked.id);
await unsigned.decide(locked.id, 'proceed', { decision: 'approve' }, { person: 'bob', roles: ['approver'] });
await save('approval-drill-locked', locked.id);

worker.shutdown();
await running;
await native.close();
await connection.close();
await server.stop();
