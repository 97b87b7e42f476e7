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
  /** v2: the comment (a confirm-commit gate's commit id is one) and which opening of the gate it was for. */
  comment?: string;
  opening?: number;
}

/**
 * The exact bytes that are signed: every field that binds the decision to one run, gate and plan.
 * v1 (runs started before signed starts) covered neither the comment nor the gate's opening, so a
 * signed decision could be replayed into a re-opened gate with another comment; v2 covers both.
 */
export function decisionMessage(f: SignedDecisionFields, version: 1 | 2 = 2): string {
  const v1 = [
    f.workflowId,
    f.runId,
    f.gate,
    f.planDigest,
    f.decision,
    f.by,
    [...f.roles].sort().join(','),
    f.expiresAt,
    f.action ?? '',
    stableStringify(f.correction ?? null),
  ];
  if (version === 1) return ['durable-runbooks/decide/v1', ...v1].join('\n');
  return ['durable-runbooks/decide/v2', ...v1, JSON.stringify(f.comment ?? ''), String(f.opening ?? 0)].join('\n');
}

export function signDecision(f: SignedDecisionFields, privateKeyHex: string): string {
  return sign(decisionMessage(f), privateKeyHex);
}

export function verifyDecision(
  f: SignedDecisionFields,
  signatureHex: string,
  publicKeyHex: string,
  version: 1 | 2 = 2,
): boolean {
  return verify(decisionMessage(f, version), signatureHex, publicKeyHex);
}

/**
 * A start forwarded by the API (or its alert intake): the run's id (the intake's, for runs an
 * alert starts), the runbook, target, the person who started it, the channel, and a digest of the
 * whole input. The worker admits an unsigned start only where the target allows it.
 */
export interface SignedStartFields {
  workflowId: string;
  runbook: string;
  target: string;
  initiator: string;
  via: string;
  inputDigest: string;
  expiresAt: string;
}

export function startMessage(f: SignedStartFields): string {
  return [
    'durable-runbooks/start/v1',
    f.workflowId,
    f.runbook,
    f.target,
    f.initiator,
    f.via,
    f.inputDigest,
    f.expiresAt,
  ].join('\n');
}

/** The one intake workflow per (runbook, target) that alerts start runs through (its id is what the API signs). */
export function alertIntakeId(runbook: string, target: string): string {
  return `alerts-${runbook}-${target}`;
}

/** What an abort or a root-cause note binds: the run, the person and their exact words. */
export interface SignedActFields {
  kind: 'abort' | 'root-cause';
  workflowId: string;
  runId: string;
  by: string;
  text: string;
  expiresAt: string;
}

export function actMessage(f: SignedActFields): string {
  return [`durable-runbooks/${f.kind}/v1`, f.workflowId, f.runId, f.by, JSON.stringify(f.text), f.expiresAt].join('\n');
}

/** The digest a start signature covers: every field of the run's input but the credential itself. */
export function inputDigest(input: Record<string, unknown>): string {
  const { start: _credential, ...rest } = input;
  return bytesToHex(sha256(utf8ToBytes(stableStringify(rest))));
}

export function sign(message: string, privateKeyHex: string): string {
  return bytesToHex(ed.sign(utf8ToBytes(message), hexToBytes(privateKeyHex)));
}

export function verify(message: string, signatureHex: string, publicKeyHex: string): boolean {
  try {
    return ed.verify(hexToBytes(signatureHex), utf8ToBytes(message), hexToBytes(publicKeyHex));
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
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

/** What an approver approves: a short hash of the gate's prompt and evidence. */
export function planDigest(gate: string, prompt: string, evidence: unknown): string {
  return bytesToHex(sha256(utf8ToBytes(stableStringify({ gate, prompt, evidence })))).slice(0, 16);
}
