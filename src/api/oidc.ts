import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { roles as knownRoles, type Person, type Role } from './auth.js';
import { MemoryStateStore, seal, unseal, type StateStore } from './state.js';

/**
 * Single sign-on with OpenID Connect. People sign in to the console with the authorization code
 * flow and PKCE (openid-client); the API accepts the provider's JWT access tokens, verified
 * against its JWKS (jose), and maps a claim (`groups`) to our roles. Static API tokens stay for
 * machines (Alertmanager, CI) and development.
 */

export interface OidcOptions {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** The `aud` access tokens must carry (default: the client id). */
  audience?: string;
  /** Claim whose values map to roles (default `groups`). */
  rolesClaim: string;
  /** Claim naming the person in history, signatures and four-eyes (default `email`, else `sub`). */
  nameClaim: string;
  /** Claim value → our roles, e.g. {"sre": ["operator", "approver"], "auditors": ["viewer"]}. */
  roleMap: Record<string, Role[]>;
  /** Where the provider sends the browser back: <public URL>/auth/callback. */
  redirectUri: string;
}

export class OidcError extends Error {
  override name = 'OidcError';
}

/** The provider cannot be reached: a 503, not a refused token. */
export class OidcUnavailable extends Error {
  override name = 'OidcUnavailable';
}

/** What the console gets back from a sign-in: its bearer token and who it names. */
export interface SignIn {
  token: string;
  name: string;
  roles: Role[];
  expiresAt: string;
}

/**
 * A sign-in in progress, kept under its `state` and sealed with the state and the binding: a
 * random value also set as a cookie in the browser that began it, so only that browser can
 * finish it, and the stored row alone gives no one the PKCE verifier.
 */
interface Pending {
  verifier: string;
  nonce: string;
}
const SIGN_IN_MS = 10 * 60_000;
const HANDOFF_MS = 60_000;

/** At most this many sign-ins in progress: /auth/login is public, so an unbounded map would be a memory sink. */
const MAX_PENDING = 10_000;

/** A token that looks like a JWT (three base64url parts), not one of our random API tokens. */
export const looksLikeJwt = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

export class OidcSignIn {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  private constructor(
    private readonly opts: OidcOptions,
    private readonly config: oidc.Configuration,
    private readonly state: StateStore,
  ) {
    const jwksUri = config.serverMetadata().jwks_uri;
    if (!jwksUri)
      throw new OidcError(
        `The OpenID provider ${opts.issuer} publishes no jwks_uri: the API cannot verify its tokens.`,
      );
    this.jwks = createRemoteJWKSet(new URL(jwksUri));
  }

  /**
   * Reads the provider's discovery document; a wrong issuer is a clear start-up error. Sign-ins in
   * progress and hand-offs are kept in `state`: shared by the replicas, one may begin a sign-in
   * and another finish it.
   */
  static async discover(opts: OidcOptions, state: StateStore = new MemoryStateStore()): Promise<OidcSignIn> {
    const insecure = new URL(opts.issuer).protocol === 'http:';
    try {
      const config = await oidc.discovery(
        new URL(opts.issuer),
        opts.clientId,
        opts.clientSecret,
        undefined,
        insecure ? { execute: [oidc.allowInsecureRequests] } : undefined,
      );
      return new OidcSignIn(opts, config, state);
    } catch (err) {
      throw new OidcError(
        `Cannot read the OpenID provider's discovery document at ${opts.issuer}/.well-known/openid-configuration (${(err as Error).message}): check RUNBOOK_OIDC_ISSUER.`,
      );
    }
  }

  /** The person an access token names, or undefined (expired, foreign issuer or audience, bad signature). */
  async authenticate(token: string): Promise<Person | undefined> {
    let payload: JWTPayload;
    let typ: string | undefined;
    try {
      ({
        payload,
        protectedHeader: { typ },
      } = await jwtVerify(token, this.jwks, {
        issuer: this.config.serverMetadata().issuer,
        audience: this.opts.audience ?? this.opts.clientId,
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) {
        throw new OidcUnavailable(
          `The OpenID provider's signing keys cannot be fetched (${(err as Error).message}): people cannot sign in with SSO until it answers; machines' API tokens still work.`,
        );
      }
      return undefined;
    }
    // An ID token (it carries the sign-in's nonce, or says so in typ) is not an access token for this API.
    if (payload.nonce !== undefined || (typ !== undefined && !/^(at\+jwt|application\/at\+jwt|jwt)$/i.test(typ)))
      return undefined;
    if (this.opts.nameClaim === 'email' && payload.email_verified === false) return undefined;
    const name =
      typeof payload[this.opts.nameClaim] === 'string' ? (payload[this.opts.nameClaim] as string) : payload.sub;
    if (!name) return undefined;
    return { name, roles: mapRoles(payload[this.opts.rolesClaim], this.opts.roleMap) };
  }

  /** Starts a sign-in: the provider's authorization URL (code flow, PKCE S256, state and nonce). */
  async begin(): Promise<{ url: string; binding: string }> {
    const now = Date.now();
    await this.state.sweep(now);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const binding = randomBytes(24).toString('base64url');
    const pending: Pending = { verifier, nonce };
    const kept = await this.state.put(
      'sign-in',
      state,
      { value: seal(`${state}.${binding}`, pending), expiresAt: now + SIGN_IN_MS },
      now,
      { atMost: MAX_PENDING },
    );
    if (!kept) throw new OidcError('Too many sign-ins are in progress: try again in a few minutes.');
    const url = oidc.buildAuthorizationUrl(this.config, {
      redirect_uri: this.opts.redirectUri,
      scope: `openid email ${this.opts.rolesClaim}`,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    }).href;
    return { url, binding };
  }

  /**
   * The provider sent the browser back: exchange the code, verify the access token as every API
   * call will, and keep it under a one-time id the console redeems (never in a URL the server sees).
   */
  async complete(query: string, binding: string | undefined): Promise<string> {
    // The callback as the provider knows it (behind a proxy, the request's own host may differ).
    const callbackUrl = new URL(this.opts.redirectUri);
    callbackUrl.search = query;
    const state = callbackUrl.searchParams.get('state') ?? '';
    // Taken, not read: a callback is used once, whichever replica it reaches.
    const sealed = state ? await this.state.take('sign-in', state, Date.now()) : undefined;
    if (sealed === undefined)
      throw new OidcError('This sign-in is unknown or older than 10 minutes: sign in again from the console.');
    // A sign-in finishes in the browser that began it: someone else's callback link signs nobody in here.
    const pending = binding ? (unseal(`${state}.${binding}`, sealed) as Pending | undefined) : undefined;
    if (!pending) throw new OidcError('This sign-in was begun in another browser: sign in again from the console.');
    const tokens = await oidc.authorizationCodeGrant(this.config, callbackUrl, {
      pkceCodeVerifier: pending.verifier,
      expectedState: state,
      expectedNonce: pending.nonce,
    });
    const person = await this.authenticate(tokens.access_token);
    if (!person)
      throw new OidcError(
        "The provider's access token is not one this API accepts (issuer, audience or signature): check RUNBOOK_OIDC_AUDIENCE and the provider's access-token format (JWT).",
      );
    const id = randomBytes(24).toString('base64url');
    const now = Date.now();
    const expiresIn = tokens.expiresIn() ?? 600;
    const signIn: SignIn = {
      token: tokens.access_token,
      name: person.name,
      roles: person.roles,
      expiresAt: new Date(now + expiresIn * 1000).toISOString(),
    };
    // Sealed with the id (which only the browser gets) and its binding: the row alone holds no usable token.
    await this.state.put('hand-off', id, { value: seal(`${id}.${binding}`, signIn), expiresAt: now + HANDOFF_MS }, now);
    return id;
  }

  /** The console redeems its sign-in once, within a minute, in the browser that began it (on any replica). */
  async redeem(id: string, binding: string | undefined): Promise<SignIn | undefined> {
    if (!binding) return undefined;
    // One-time: of two replicas redeeming the same id, one gets it. A wrong binding spends it too.
    const sealed = await this.state.take('hand-off', id, Date.now());
    return sealed === undefined ? undefined : (unseal(`${id}.${binding}`, sealed) as SignIn | undefined);
  }
}

/** Claim values (a list, or one string) → our roles through the configured map; unknown values give none. */
export function mapRoles(claim: unknown, roleMap: Record<string, Role[]>): Role[] {
  const values = Array.isArray(claim)
    ? claim.filter((v): v is string => typeof v === 'string')
    : typeof claim === 'string'
      ? [claim]
      : [];
  const out = new Set<Role>();
  for (const v of values) if (Object.hasOwn(roleMap, v)) for (const r of roleMap[v]!) out.add(r);
  return knownRoles.filter((r) => out.has(r));
}

/** RUNBOOK_OIDC_ROLES: a JSON object of claim value → roles; refused with the reason when malformed. */
export function parseRoleMap(text: string): Record<string, Role[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new OidcError(
      'RUNBOOK_OIDC_ROLES must be JSON, e.g. {"sre": ["operator", "approver"], "auditors": ["viewer"]}.',
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new OidcError('RUNBOOK_OIDC_ROLES must be a JSON object of group → roles.');
  for (const [group, list] of Object.entries(raw)) {
    if (!Array.isArray(list) || !list.every((r) => (knownRoles as readonly unknown[]).includes(r))) {
      throw new OidcError(`RUNBOOK_OIDC_ROLES: "${group}" must map to a list of ${knownRoles.join(', ')}.`);
    }
  }
  return raw as Record<string, Role[]>;
}
