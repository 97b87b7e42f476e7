import { Connection } from '@temporalio/client';
import { afterAll, describe, expect, it, inject } from 'vitest';
import { startDevServer, type DevServer } from '../src/devserver.js';
import { ensureSearchAttributes } from '../src/worker.js';
import { freePort } from './support/ports.js';

// A server we did not start (TEMPORAL_ADDRESS) gets our search attributes from the worker.
describe('search attributes on an existing server', () => {
  let server: DevServer | undefined;
  afterAll(() => server?.stop());

  it('registers the four keyword attributes once, and is a no-op the second time', async () => {
    server = await startDevServer({ cli: inject('temporalCli'), port: await freePort(), headless: true, searchAttributes: false });
    expect(await ensureSearchAttributes(server.address, 'default')).toEqual(['RunbookName', 'RunbookTarget', 'RunbookPhase', 'RunbookInitiator']);
    expect(await ensureSearchAttributes(server.address, 'default')).toEqual([]);
    const connection = await Connection.connect({ address: server.address });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    await connection.close();
    for (const name of ['RunbookName', 'RunbookTarget', 'RunbookPhase', 'RunbookInitiator']) expect(customAttributes?.[name]).toBe(2); // KEYWORD
  });
});
