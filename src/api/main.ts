import { RunbookClient } from '../client.js';
import { codecFromEnv } from '../codec.js';
import { loadConfig, type Config } from '../config.js';
import { isMain, runMain } from '../util/main.js';
import { TokenStore } from './auth.js';
import { OidcSignIn, parseRoleMap } from './oidc.js';
import { buildApi } from './server.js';

/** Single sign-on from the configuration: the provider's discovery document is read once, at start. */
async function ssoFrom(config: Config) {
  if (!config.oidc) return undefined;
  const o = config.oidc;
  const signIn = await OidcSignIn.discover({
    issuer: o.issuer, clientId: o.clientId, clientSecret: o.clientSecret, audience: o.audience,
    rolesClaim: o.rolesClaim, nameClaim: o.nameClaim, roleMap: parseRoleMap(o.roleMap), redirectUri: `${config.publicUrl}/auth/callback`,
  });
  return { signIn, provider: o.providerName };
}

export async function startApi(config: Config) {
  if (!config.tokensFile) throw new Error('The API needs a tokens file: set RUNBOOK_API_TOKENS (see README, "API tokens"). `npm start` makes development tokens by itself.');
  if (!config.decisionKey) console.warn('RUNBOOK_DECISION_KEY is not set: decisions sent through the API will be unsigned, and targets that deny unsigned decisions will refuse them.');
  const tokens = TokenStore.load(config.tokensFile);
  const sso = await ssoFrom(config);
  const client = await RunbookClient.connect(config, { signingKey: config.decisionKey });
  const app = await buildApi({
    client, tokens, logger: { level: config.logLevel },
    codec: codecFromEnv(), codecOrigins: config.codecOrigins,
    sessions: { sameSite: config.sessionSameSite, secure: config.publicUrl.startsWith('https:') || undefined },
    sso,
  });
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
