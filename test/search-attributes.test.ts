import { Connection } from '@temporalio/client';
import { afterAll, describe, expect, it, inject } from 'vitest';
import { RunbookClient } from '../src/client.js';
import { loadConfig } from '../src/config.js';
import { startDevServer, type DevServer } from '../src/temporal/devserver.js';
import { prepareTemporal } from '../src/temporal/connection.js';
import { freePort } from './support/ports.js';

const ours = ['RunbookName', 'RunbookTarget', 'RunbookPhase', 'RunbookInitiator'];

// A server we did not start (TEMPORAL_ADDRESS): the worker checks the namespace and registers our search attributes.
describe('an existing Temporal server', () => {
  let server: DevServer | undefined;
  afterAll(() => server?.stop());

  const custom = async (address: string) => {
    const connection = await Connection.connect({ address });
    try {
      return (await connection.operatorService.listSearchAttributes({ namespace: 'default' })).customAttributes ?? {};
    } finally {
      await connection.close();
    }
  };

  it('gets our four keyword attributes once (none with RUNBOOK_SEARCH_ATTRIBUTES=skip), and a missing namespace is named with the command that creates it', async () => {
    server = await startDevServer({
      cli: inject('temporalCli'),
      port: await freePort(),
      headless: true,
      searchAttributes: false,
    });
    const env = { TEMPORAL_ADDRESS: server.address };
    const lines: string[] = [];
    await prepareTemporal(loadConfig({ ...env, RUNBOOK_SEARCH_ATTRIBUTES: 'skip' }), (l) => lines.push(l));
    expect(Object.keys(await custom(server.address)).filter((n) => ours.includes(n))).toEqual([]);

    await prepareTemporal(loadConfig(env), (l) => lines.push(l));
    await prepareTemporal(loadConfig(env), (l) => lines.push(l));
    expect(lines).toEqual([`Registered search attributes on ${server.address}: ${ours.join(', ')}`]);
    const attrs = await custom(server.address);
    for (const name of ours) expect(attrs[name]).toBe(2); // KEYWORD

    const missing = loadConfig({ ...env, TEMPORAL_NAMESPACE: 'payments-prod' });
    const expected = `Temporal namespace "payments-prod" does not exist on ${server.address}. Create it (once):\n  temporal operator namespace create --namespace payments-prod --retention 30d --address ${server.address}`;
    await expect(prepareTemporal(missing)).rejects.toThrow(expected);
    await expect(RunbookClient.connect(missing)).rejects.toThrow(expected);
  });

  it('says what to check when it speaks TLS to a server that does not', async () => {
    const address = server!.address;
    const config = loadConfig({ TEMPORAL_ADDRESS: address, TEMPORAL_TLS: 'true' });
    const err = await RunbookClient.connect(config).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toContain(`Cannot reach Temporal at ${address}, namespace default, TLS (`);
    expect(err?.message).toContain("do TEMPORAL_TLS_CA / TEMPORAL_TLS_SERVER_NAME match the server's certificate");
  });
});
