import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanLogs } from '../support/secrets.js';

// The suite-wide scan's log half (the history half runs against the real server in global-setup).
describe('the secret scan of the run’s logs', () => {
  it('finds a registered secret in any log file, nested or not, and names the file', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'scan-'));
    const secrets = path.join(root, 'secrets');
    const logs = path.join(root, 'logs');
    mkdirSync(secrets);
    mkdirSync(path.join(logs, 'chaos'), { recursive: true });
    writeFileSync(path.join(secrets, '1.tsv'), 'password of db-x\tS3cret-pa55word\n');
    writeFileSync(path.join(logs, 'in-process-1.jsonl'), '{"msg":"connected as [redacted]"}\n');
    writeFileSync(path.join(logs, 'chaos', 'worker-q.log'), '{"msg":"postgres://app:S3cret-pa55word@db/x refused"}\n');
    expect(scanLogs(logs, secrets)).toEqual({
      logs: 2,
      hits: [{ where: `log ${path.join('chaos', 'worker-q.log')}`, label: 'password of db-x' }],
    });
    expect(scanLogs(path.join(root, 'none'), secrets)).toEqual({ logs: 0, hits: [] });
  });
});
