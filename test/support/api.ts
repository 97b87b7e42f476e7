import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ensureDevTokens, TokenStore } from '../../src/api/auth.js';
import { buildApi, type ApiOptions } from '../../src/api/server.js';
import type { RunbookClient } from '../../src/client.js';
import { tmpDir } from './harness.js';
import { registerSecrets } from './secrets.js';

/** The HTTP API on `client`, with `npm start`'s development tokens (alice operator, bob approver, carol viewer), scanned for in every history. */
export async function apiWithDevTokens(
  client: RunbookClient,
  opts: Omit<ApiOptions, 'client' | 'tokens'> = {},
): Promise<{ api: FastifyInstance; tokens: Record<'alice' | 'bob' | 'carol' | 'alertmanager', string> }> {
  const dev = ensureDevTokens(tmpDir());
  const tokens = JSON.parse(readFileSync(dev.plainFile, 'utf8')) as Record<
    'alice' | 'bob' | 'carol' | 'alertmanager',
    string
  >;
  registerSecrets('API token', ...Object.values(tokens));
  // The fuzz tests send thousands of calls a minute: the rate limit has its own test.
  return {
    api: await buildApi({ rateLimit: 1_000_000, ...opts, client, tokens: TokenStore.load(dev.tokensFile) }),
    tokens,
  };
}
