/* global process, console, setInterval */
/**
 * The bare-Temporal baseline's worker (bench/approvals.ts), alone in its process, plain JavaScript
 * on plain node (no tsx), as our compiled worker runs:
 *   node bench/bare/worker.js <address> <taskQueue> <bundlePath> <maxCachedWorkflows>
 * The SDK's defaults otherwise (no interceptors, no heartbeat settings). Prints "ready" once the
 * worker is created, "first" each time a run's first activity begins (the bench counts starts
 * there), and "rss <MB>" every second.
 */
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';

const [address, taskQueue, bundlePath, cache] = process.argv.slice(2);
Runtime.install({ logger: new DefaultLogger('ERROR') });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  namespace: 'default',
  taskQueue,
  workflowBundle: { codePath: bundlePath },
  maxCachedWorkflows: Number(cache),
  activities: {
    async first() {
      console.log('first');
    },
    async next(decision) {
      return { decision, startedAtMs: Date.now() };
    },
  },
});
console.log('ready');
setInterval(() => console.log(`rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)}`), 1000).unref();
await worker.run();
await connection.close();
