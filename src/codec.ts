import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';

/**
 * Optional payload encryption: AES-256-GCM over each payload (inputs, results, signals, updates,
 * queries, failures' messages, stack traces and details), so workflow histories hold ciphertext.
 * The key comes from the environment, its id travels in the payload's metadata, so keys can be
 * rotated: payloads are encrypted with the current key and decrypted with whichever key they name.
 *
 *   RUNBOOK_PAYLOAD_KEY        <id>:<64 hex chars>   the current key (encrypts and decrypts)
 *   RUNBOOK_PAYLOAD_OLD_KEYS   <id>:<hex>,<id>:<hex> earlier keys (decrypt only)
 *
 * The metadata names follow Temporal's encryption sample ("encoding": "binary/encrypted",
 * "encryption-key-id"), so its tools and codec servers recognise the payloads.
 * The worker, the API and the CLI all use it when the key is set (they must share the keys); the
 * Temporal UI and the temporal CLI read and write such payloads through the API's codec endpoints
 * (src/api/codec.ts).
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const ENCODING = 'encoding';
const KEY_ID = 'encryption-key-id';

/** The id of the key a payload is encrypted with; undefined for a plain one. */
export function encryptionKeyId(p: {
  metadata?: Record<string, Uint8Array | null | undefined> | null;
}): string | undefined {
  if (Buffer.from(p.metadata?.[ENCODING] ?? []).toString() !== ENCRYPTED_ENCODING) return undefined;
  return Buffer.from(p.metadata?.[KEY_ID] ?? []).toString();
}
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class CodecKeyError extends Error {
  override name = 'CodecKeyError';
}

function parseKey(spec: string, variable: string): [string, Buffer] {
  const m = /^([A-Za-z0-9._-]{1,64}):([0-9a-fA-F]{64})$/.exec(spec.trim());
  if (!m)
    throw new CodecKeyError(
      `${variable} must be "<key id>:<64 hex characters>" (a 256-bit key; make one with: openssl rand -hex 32). Its value is not shown.`,
    );
  return [m[1]!, Buffer.from(m[2]!, 'hex')];
}

/** The codec for the keys in `env`, or undefined when no key is set (payloads stay plain JSON). */
export function codecFromEnv(env: NodeJS.ProcessEnv = process.env): AesGcmCodec | undefined {
  if (!env.RUNBOOK_PAYLOAD_KEY) {
    if (env.RUNBOOK_PAYLOAD_OLD_KEYS)
      throw new CodecKeyError(
        'RUNBOOK_PAYLOAD_OLD_KEYS is set but RUNBOOK_PAYLOAD_KEY is not: set the current key too.',
      );
    return undefined;
  }
  const [id, key] = parseKey(env.RUNBOOK_PAYLOAD_KEY, 'RUNBOOK_PAYLOAD_KEY');
  const old = (env.RUNBOOK_PAYLOAD_OLD_KEYS ?? '')
    .split(',')
    .filter((s) => s.trim())
    .map((s) => parseKey(s, 'Each of RUNBOOK_PAYLOAD_OLD_KEYS'));
  return new AesGcmCodec(id, new Map([...old, [id, key]]));
}

/**
 * Failures' messages and stack traces are encoded too (into a payload the codec encrypts): the
 * SDK loads this file by path in the worker and clients, and bundles it into the workflow code.
 * A workflow bundle made ahead (RUNBOOK_WORKFLOW_BUNDLE) for an encrypted worker must be made with
 * it: `bundleWorkflowCode({ workflowsPath, failureConverterPath })`.
 */
export const failureConverterPath = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

/** What clients, workers and the audit replay use with `codec`: its payloads and failures encrypted. */
export function encryptingDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath };
}

/** The encrypting data converter when RUNBOOK_PAYLOAD_KEY is set; undefined otherwise (payloads and failures stay plain). */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const codec = codecFromEnv(env);
  return codec ? encryptingDataConverter(codec) : undefined;
}

export class AesGcmCodec implements PayloadCodec {
  constructor(
    private readonly currentId: string,
    private readonly keys: ReadonlyMap<string, Buffer>,
  ) {
    if (!keys.has(currentId)) throw new CodecKeyError(`The current key "${currentId}" is not among the keys.`);
    for (const [id, k] of keys)
      if (k.length !== 32) throw new CodecKeyError(`Key "${id}" is ${k.length} bytes; AES-256 needs 32.`);
  }

  /** Whether this codec can decrypt payloads written under key `id`. */
  hasKey(id: string): boolean {
    return this.keys.has(id);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.currentId)!;
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      // The whole payload (its metadata too: the encoding says how to read the data) is the plaintext.
      const plain = Buffer.from(
        JSON.stringify({
          metadata: mapToB64(p.metadata),
          data: p.data ? Buffer.from(p.data).toString('base64') : null,
        }),
      );
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { [ENCODING]: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID]: Buffer.from(this.currentId) }, data };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const id = encryptionKeyId(p);
      if (id === undefined) return p; // plain: written before encryption was on
      const key = this.keys.get(id);
      if (!key)
        throw new CodecKeyError(
          `A payload is encrypted with key "${id}", which this process does not have: add it to RUNBOOK_PAYLOAD_OLD_KEYS (keys known: ${[...this.keys.keys()].join(', ')}).`,
        );
      const data = Buffer.from(p.data ?? []);
      if (data.length < IV_BYTES + TAG_BYTES)
        throw new CodecKeyError(
          `A payload encrypted with key "${id}" is too short to be one (${data.length} bytes): it was cut or altered.`,
        );
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new CodecKeyError(
          `A payload encrypted with key "${id}" does not authenticate: it was altered, or key "${id}" here is not the key it was written with.`,
        );
      }
      const inner = JSON.parse(plain.toString()) as { metadata: Record<string, string>; data: string | null };
      return {
        metadata: b64ToMap(inner.metadata),
        data: inner.data === null ? undefined : Buffer.from(inner.data, 'base64'),
      };
    });
  }
}

function mapToB64(m: Payload['metadata']): Record<string, string> {
  return Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]));
}

function b64ToMap(m: Record<string, string>): Record<string, Uint8Array> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}
