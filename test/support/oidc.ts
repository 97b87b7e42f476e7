import { generateKeyPairSync } from 'node:crypto';
import type { Server } from 'node:http';
import Provider from 'oidc-provider';
import { freePort } from './ports.js';

/**
 * A real OpenID provider in-process (oidc-provider): its own users and groups, the authorization
 * code flow with PKCE and its development login and consent pages, JWT access tokens for our API.
 * The private key is handed back so tests can mint the tokens an attacker would (expired, foreign).
 */
export interface TestUser {
  email: string;
  groups: string[];
}

export async function startOidcProvider(opts: {
  redirectUri: string;
  audience: string;
  clientId: string;
  clientSecret: string;
  users: Record<string, TestUser>;
}) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const privateJwk = {
    ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
    kid: 'test-key',
    use: 'sig',
    alg: 'RS256',
  };
  const user = (id: string) => (Object.hasOwn(opts.users, id) ? opts.users[id] : undefined);
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: opts.clientId,
        client_secret: opts.clientSecret,
        redirect_uris: [opts.redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
    ],
    jwks: { keys: [privateJwk] },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'groups'],
    claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
    findAccount: (_ctx, sub) => {
      const u = user(sub);
      return u ? { accountId: sub, claims: () => ({ sub, email: u.email, groups: u.groups }) } : undefined;
    },
    features: {
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => opts.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'openid email groups',
          audience: opts.audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    // Who the token names and their groups, in the access token itself (the API reads nothing else).
    extraTokenClaims: (_ctx, token) => {
      const u = 'accountId' in token && typeof token.accountId === 'string' ? user(token.accountId) : undefined;
      return u ? { email: u.email, groups: u.groups } : undefined;
    },
  });
  const server: Server = provider.listen(port);
  await new Promise<void>((ok) => server.once('listening', () => ok()));
  return {
    issuer,
    privateJwk,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
