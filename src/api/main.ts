import type { Registry } from 'prom-client';
import { newRegistry, serveMetrics } from '../metrics/server.js';
import { RunbookClient } from '../client.js';
import { codecFromEnv } from '../codec.js';
import { loadConfig, type Config } from '../config.js';
import { activeTracing, startTracing } from '../tracing/index.js';
import { isMain, runMain } from '../util/main.js';
import { TokenStore } from './auth.js';
import { OidcSignIn, parseRoleMap } from './oidc.js';
import { buildApi } from './server.js';
import { PgStateStore } from './state-postgres.js';
import { MemoryStateStore, type StateStore } from './state.js';

/** Single sign-on from the configuration: the provider's discovery document is read once, at start. */
async function ssoFrom(config: Config, state: StateStore) {
  if (!config.oidc) return undefined;
  const o = config.oidc;
  const signIn = await OidcSignIn.discover(
    {
      issuer: o.issuer,
      clientId: o.clientId,
      clientSecret: o.clientSecret,
      audience: o.audience,
      rolesClaim: o.rolesClaim,
      nameClaim: o.nameClaim,
      roleMap: parseRoleMap(o.roleMap),
      redirectUri: `${config.publicUrl}/auth/callback`,
    },
    state,
  );
  return { signIn, provider: o.providerName };
}

/** The API; with RUNBOOK_METRICS_PORT, its metrics go into `registry` (npm start shares one with the worker). */
export async function startApi(config: Config, registry?: Registry) {
  if (!config.tokensFile)
    throw new Error(
      'The API needs a tokens file: set RUNBOOK_API_TOKENS (see README, "API tokens"). `npm start` makes development tokens by itself.',
    );
  if (!config.decisionKey)
    console.warn(
      'RUNBOOK_DECISION_KEY is not set: decisions sent through the API will be unsigned, and targets that deny unsigned decisions will refuse them.',
    );
  const tokens = TokenStore.load(config.tokensFile);
  // Sessions and sign-ins: shared by the replicas in PostgreSQL, else in this process.
  const state = config.stateDatabaseUrl ? await PgStateStore.open(config.stateDatabaseUrl) : new MemoryStateStore();
  try {
    const sso = await ssoFrom(config, state);
    const client = await RunbookClient.connect(config, { signingKey: config.decisionKey });
    const app = await buildApi({
      client,
      tokens,
      logger: { level: config.logLevel },
      codec: codecFromEnv(),
      codecOrigins: config.codecOrigins,
      sessions: { sameSite: config.sessionSameSite, secure: config.publicUrl.startsWith('https:') || undefined },
      state,
      sso,
      metrics: registry,
      tracer: activeTracing()?.tracer,
    });
    app.addHook('onClose', async () => {
      await client.close();
      await state.close();
    });
    await app.listen({ host: config.api.host, port: config.api.port });
    return app;
  } catch (err) {
    await state.close();
    throw err;
  }
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    const config = loadConfig();
    const registry = config.metrics && newRegistry('api');
    const metrics = config.metrics && registry && (await serveMetrics({ ...config.metrics, registry }));
    const tracing = await startTracing(config.tracing, 'runbook-api');
    const app = await startApi(config, registry);
    console.log(
      `API on http://${config.api.host}:${config.api.port} (docs: /docs)${metrics ? `; metrics ${metrics.url}` : ''}${tracing ? `; traces to ${tracing.endpoint}` : ''}`,
    );
    // The requests' last spans are still batched when the listener closes: send them before exiting.
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(
        signal,
        () =>
          void app
            .close()
            .then(() => metrics?.close())
            .then(() => tracing?.shutdown()),
      );
  });
}
