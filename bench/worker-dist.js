/* global process, console, setInterval */
/**
 * bench/worker-process.ts for the compiled build: our worker from `npm run build`'s dist/ on plain
 * node (no tsx), with dist's prebuilt workflow bundle, alone in its process:
 *   node bench/worker-dist.js <distDir> <address> <taskQueue> <targetsFile> <maxCachedWorkflows> [activitySlots] [bundle]
 * Prints "ready" once the worker is created, "rss <MB>" every second and, with node --expose-gc,
 * "heap <MB>" every 30 s (the heap in use right after a full collection). activitySlots > 0 caps
 * concurrent activities, as in bench/worker-process.ts. bundle: another workflow bundle than dist's plain one.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

const [dist, address, taskQueue, targetsFile, cache, slots, bundle] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(path.join(dist, file)).href);
const { createWorker, prebuiltBundles } = await load('worker.js');
const { TargetRegistry } = await load('targets.js');
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
  workflowBundle: { codePath: bundle ? path.resolve(bundle) : path.join(dist, prebuiltBundles.plain) },
  maxCachedWorkflows: Number(cache),
});
console.log('ready');
setInterval(() => console.log(`rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)}`), 1000).unref();
const gc = globalThis.gc;
const liveHeap = () => {
  gc();
  console.log(`heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)}`);
};
if (gc) {
  liveHeap();
  setInterval(liveHeap, 30_000).unref();
}
await worker.run();
await connection.close();
