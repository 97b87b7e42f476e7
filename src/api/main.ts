import { RunbookClient } from '../client.js';
import { loadConfig, type Config } from '../config.js';
import { isMain, runMain } from '../util/main.js';
import { buildApi } from './server.js';

export async function startApi(config: Config) {
  const client = await RunbookClient.connect(config);
  const app = await buildApi({ client, logger: { level: config.logLevel } });
  app.addHook('onClose', () => client.close());
  await app.listen({ host: config.api.host, port: config.api.port });
  return app;
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    const config = loadConfig();
    const app = await startApi(config);
    console.log(`API on http://${config.api.host}:${config.api.port} (docs: /docs)`);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
  });
}
