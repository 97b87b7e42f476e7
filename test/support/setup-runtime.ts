import { DefaultLogger, Runtime } from '@temporalio/worker';

// Workers in tests log only errors; expected workflow failures would otherwise flood the output.
Runtime.install({ logger: new DefaultLogger('ERROR') });
