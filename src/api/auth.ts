import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * Bearer tokens → people and roles. The tokens file stores SHA-256 hashes only: tokens are
 * random (256 bits), so a fast hash is enough, and a slow one would cap request rates.
 */

export const roles = ['operator', 'approver', 'viewer'] as const;
export type Role = (typeof roles)[number];

export interface Person {
  name: string;
  roles: Role[];
  /** A machine (Alertmanager, CI): may start runs, never decide a gate. */
  service?: boolean;
}

const tokensFileSchema = z.strictObject({
  people: z.array(
    z
      .strictObject({
        name: z.string().regex(/^[A-Za-z0-9._@-]+$/, 'names are letters, digits, dot, dash, underscore, @'),
        roles: z.array(z.enum(roles)).min(1),
        tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the token'),
        service: z.boolean().optional(),
      })
      .refine((p) => !(p.service && p.roles.includes('approver')), {
        message: 'a service identity (service: true) may not have the approver role: gates are decided by people',
        path: ['roles'],
      }),
  ),
});

export class TokensError extends Error {
  override name = 'TokensError';
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class TokenStore {
  private constructor(private readonly byHash: Map<string, Person>) {}

  static load(file: string): TokenStore {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new TokensError(
        `Tokens file ${file} cannot be read as JSON (${(err as Error).message}). See README, "API tokens".`,
      );
    }
    const parsed = tokensFileSchema.safeParse(raw);
    if (!parsed.success) {
      throw new TokensError(
        `Tokens file ${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    return new TokenStore(
      new Map(
        parsed.data.people.map((p) => [
          p.tokenSha256,
          { name: p.name, roles: p.roles, ...(p.service ? { service: true } : {}) },
        ]),
      ),
    );
  }

  /** The person a bearer token belongs to, or undefined. */
  authenticate(token: string): Person | undefined {
    return this.byHash.get(sha256(token));
  }
}

/**
 * Development identities for `npm start` with no tokens file configured: alice (operator +
 * approver), bob (approver), carol (viewer), and alertmanager (a service identity: starts runs
 * from alerts, decides nothing). Plain tokens go to dev-tokens.json (mode 0600).
 */
export function ensureDevTokens(dataDir: string): { tokensFile: string; plainFile: string; created: boolean } {
  const tokensFile = path.join(dataDir, 'api-tokens.json');
  const plainFile = path.join(dataDir, 'dev-tokens.json');
  if (existsSync(tokensFile) && existsSync(plainFile)) return { tokensFile, plainFile, created: false };
  mkdirSync(dataDir, { recursive: true });
  const people: Array<{ name: string; roles: Role[]; service?: boolean }> = [
    { name: 'alice', roles: ['operator', 'approver'] },
    { name: 'bob', roles: ['approver'] },
    { name: 'carol', roles: ['viewer'] },
    { name: 'alertmanager', roles: ['operator'], service: true },
  ];
  const plain: Record<string, string> = {};
  const hashed = people.map((p) => {
    const token = randomBytes(32).toString('base64url');
    plain[p.name] = token;
    return { ...p, tokenSha256: sha256(token) };
  });
  writeFileSync(plainFile, `${JSON.stringify(plain, null, 2)}\n`, { mode: 0o600 });
  chmodSync(plainFile, 0o600);
  writeFileSync(tokensFile, `${JSON.stringify({ people: hashed }, null, 2)}\n`);
  return { tokensFile, plainFile, created: true };
}
