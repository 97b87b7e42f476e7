/** A worker alone in its process, for measuring its memory: prints "rss <MB>" every second. */
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { TargetRegistry } from '../src/targets.js';
import { createWorker } from '../src/worker.js';

const [address, taskQueue, targetsFile, bundlePath, cache] = process.argv.slice(2) as [string, string, string, string, string];
Runtime.install({ logger: new DefaultLogger('ERROR') });
const connection = await NativeConnection.connect({ address });
const worker = await createWorker({ connection, address, namespace: 'default', taskQueue, targets: TargetRegistry.load(targetsFile), workflowBundle: { codePath: bundlePath }, maxCachedWorkflows: Number(cache) });
setInterval(() => console.log(`rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)}`), 1000).unref();
await worker.run();
await connection.close();
