import * as ed from '@noble/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/**
 * Signed decisions and plan digests. Pure JS, so the workflow verifies signatures itself
 * (deterministically) and the API signs with the same code.
 */
ed.hashes.sha512 = sha512;

export interface SignedDecisionFields {
  workflowId: string;
  runId: string;
  gate: string;
  planDigest: string;
  decision: 'approve' | 'reject';
  by: string;
  roles: string[];
  /** ISO time after which the signature is worthless. */
  expiresAt: string;
  /** Recovery gates: the action and correction are signed too, so neither can be swapped. */
  action?: string;
  correction?: unknown;
}

/** The exact bytes that are signed: every field that binds the decision to one run, gate and plan. */
export function decisionMessage(f: SignedDecisionFields): string {
  return ['durable-runbooks/decide/v1', f.workflowId, f.runId, f.gate, f.planDigest, f.decision, f.by, [...f.roles].sort().join(','), f.expiresAt, f.action ?? '', stableStringify(f.correction ?? null)].join('\n');
}

export function signDecision(f: SignedDecisionFields, privateKeyHex: string): string {
  return bytesToHex(ed.sign(utf8ToBytes(decisionMessage(f)), hexToBytes(privateKeyHex)));
}

export function verifyDecision(f: SignedDecisionFields, signatureHex: string, publicKeyHex: string): boolean {
  try {
    return ed.verify(hexToBytes(signatureHex), utf8ToBytes(decisionMessage(f)), hexToBytes(publicKeyHex));
  } catch {
    return false;
  }
}

export function publicKeyOf(privateKeyHex: string): string {
  return bytesToHex(ed.getPublicKey(hexToBytes(privateKeyHex)));
}

/** JSON with sorted keys, so equal values always hash the same. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

/** What an approver approves: a short hash of the gate's prompt and evidence. */
export function planDigest(gate: string, prompt: string, evidence: unknown): string {
  return bytesToHex(sha256(utf8ToBytes(stableStringify({ gate, prompt, evidence })))).slice(0, 16);
}
