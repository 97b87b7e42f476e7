/**
 * A worker alone in its process, for measuring its memory: prints "ready" once created, "rss <MB>" every second, and
 * with node --expose-gc, "heap <MB>" every 30 s: the heap in use right after a full collection
 * (what stays alive; a leak grows it, garbage does not).
 *   node --import tsx bench/worker-process.ts <address> <taskQueue> <targetsFile> <bundlePath> <maxCachedWorkflows> [activitySlots]
 * activitySlots > 0 caps concurrent activities (createWorker keeps the SDK's default of 100; the
 * load bench caps it so its db-access steps cannot take every connection of a shared PostgreSQL).
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { TargetRegistry } from '../src/targets.js';
import { createWorker } from '../src/worker.js';

const [address, taskQueue, targetsFile, bundlePath, cache, slots] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string?,
];
Runtime.install({ logger: new DefaultLogger('ERROR') });
if (Number(slots) > 0) {
  const create = Worker.create.bind(Worker);
  Worker.create = (options) => create({ ...options, maxConcurrentActivityTaskExecutions: Number(slots) });
}
const connection = await NativeConnection.connect({ address });
const worker = await createWorker({
  connection,
  address,
  namespace: 'default',
  taskQueue,
  targets: TargetRegistry.load(targetsFile),
  workflowBundle: { codePath: bundlePath },
  maxCachedWorkflows: Number(cache),
});
console.log('ready');
setInterval(() => console.log(`rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)}`), 1000).unref();
const gc = (globalThis as { gc?: () => void }).gc;
const liveHeap = () => {
  gc!();
  console.log(`heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)}`);
};
if (gc) {
  liveHeap();
  setInterval(liveHeap, 30_000).unref();
}
await worker.run();
await connection.close();
