import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { publicKeyOf } from './contract/signing.js';

/**
 * The API's decision-signing key. Production: RUNBOOK_DECISION_KEY on the API and
 * RUNBOOK_DECISION_PUBLIC_KEY on the workers. `npm start` makes a development pair in .data/.
 */
export function ensureDevDecisionKey(dataDir: string): { privateKey: string; publicKey: string; file: string } {
  const file = path.join(dataDir, 'decision-key.json');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify({ privateKey: randomBytes(32).toString('hex') })}\n`, { mode: 0o600 });
  }
  const { privateKey } = JSON.parse(readFileSync(file, 'utf8')) as { privateKey: string };
  return { privateKey, publicKey: publicKeyOf(privateKey), file };
}
