import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { codecFromEnv, CodecKeyError } from '../../src/codec.js';

const hex = () => randomBytes(32).toString('hex');
const decision = { gate: 'upgrade', decision: 'approve', comment: 'rehearsal clean; password=hunter2-not-really' };
const payload = () => defaultPayloadConverter.toPayload(decision);

describe('AES-GCM payload codec', () => {
  it('encrypts each payload under the current key id, and decodes it back to the same value', async () => {
    const codec = codecFromEnv({ RUNBOOK_PAYLOAD_KEY: `k2026:${hex()}` })!;
    const [enc] = await codec.encode([payload()]);
    expect(Buffer.from(enc!.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(enc!.metadata!['encryption-key-id']!).toString()).toBe('k2026');
    const bytes = Buffer.from(enc!.data!).toString('latin1');
    expect(bytes).not.toContain('approve');
    expect(bytes).not.toContain('hunter2');
    const [dec] = await codec.decode([enc!]);
    expect(defaultPayloadConverter.fromPayload(dec!)).toEqual(decision);
    // Two encodings of the same value differ (a fresh IV each time).
    const [again] = await codec.encode([payload()]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(enc!.data!))).toBe(false);
  });

  it('decodes with an old key after rotation, and passes plain payloads (written before encryption) through', async () => {
    const old = hex();
    const before = codecFromEnv({ RUNBOOK_PAYLOAD_KEY: `old:${old}` })!;
    const [enc] = await before.encode([payload()]);
    const after = codecFromEnv({ RUNBOOK_PAYLOAD_KEY: `new:${hex()}`, RUNBOOK_PAYLOAD_OLD_KEYS: `old:${old}` })!;
    expect(defaultPayloadConverter.fromPayload((await after.decode([enc!]))[0]!)).toEqual(decision);
    expect(defaultPayloadConverter.fromPayload((await after.decode([payload()]))[0]!)).toEqual(decision);
  });

  it('refuses a payload under an unknown key, and one altered in transit, saying what to do', async () => {
    const a = codecFromEnv({ RUNBOOK_PAYLOAD_KEY: `a:${hex()}` })!;
    const b = codecFromEnv({ RUNBOOK_PAYLOAD_KEY: `b:${hex()}` })!;
    const [enc] = await a.encode([payload()]);
    await expect(b.decode([enc!])).rejects.toThrow(
      'A payload is encrypted with key "a", which this process does not have: add it to RUNBOOK_PAYLOAD_OLD_KEYS (keys known: b).',
    );
    const tampered = Buffer.from(enc!.data!);
    tampered[20] = tampered[20]! ^ 1;
    await expect(a.decode([{ ...enc!, data: tampered }])).rejects.toThrow('does not authenticate: it was altered');
    const wrongKeySameId = codecFromEnv({ RUNBOOK_PAYLOAD_KEY: `a:${hex()}` })!;
    await expect(wrongKeySameId.decode([enc!])).rejects.toThrow(CodecKeyError);
  });

  it('is off without a key, and refuses a malformed key without showing it', () => {
    expect(codecFromEnv({})).toBeUndefined();
    const secret = 'not-hex-and-secret';
    expect(() => codecFromEnv({ RUNBOOK_PAYLOAD_KEY: `k:${secret}` })).toThrow(
      'RUNBOOK_PAYLOAD_KEY must be "<key id>:<64 hex characters>" (a 256-bit key; make one with: openssl rand -hex 32). Its value is not shown.',
    );
    try {
      codecFromEnv({ RUNBOOK_PAYLOAD_KEY: `k:${secret}` });
    } catch (e) {
      expect((e as Error).message).not.toContain(secret);
    }
    expect(() => codecFromEnv({ RUNBOOK_PAYLOAD_OLD_KEYS: `k:${hex()}` })).toThrow(
      'RUNBOOK_PAYLOAD_OLD_KEYS is set but RUNBOOK_PAYLOAD_KEY is not',
    );
  });
});
