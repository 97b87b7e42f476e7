import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import tls, { type PeerCertificate } from 'node:tls';
import { classifyNetError, type HttpErrorKind } from './app.js';

/**
 * HTTP(S) requests and TLS handshakes as a browser would make them, with a CA file the target may
 * add to the system's (fetch cannot take one). Failures come back as classified evidence — refused,
 * timeout, DNS, TLS — never as exceptions.
 */

export interface HttpAnswer {
  status: number | null;
  ms: number;
  headers: Record<string, string>;
  /** Each Set-Cookie header, whole. */
  setCookie: string[];
  body: string;
  error?: { kind: HttpErrorKind; code: string; detail: string };
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** PEM of CAs trusted besides the system's. */
  ca?: string;
  timeoutMs: number;
}

export function httpRequest(url: string, o: RequestOptions): Promise<HttpAnswer> {
  const t0 = performance.now();
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const fail = (err: unknown) =>
      resolve({
        status: null,
        ms: Math.round(performance.now() - t0),
        headers: {},
        setCookie: [],
        body: '',
        error: classifyNetError(err),
      });
    const req = lib.request(
      u,
      {
        method: o.method ?? 'GET',
        headers: {
          ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}),
          ...o.headers,
        },
        ca: o.ca ? [...tls.rootCertificates, o.ca] : undefined,
        timeout: o.timeoutMs,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 1 << 20) chunks.push(c);
        });
        res.on('error', fail);
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers))
            if (k !== 'set-cookie' && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({
            status: res.statusCode ?? null,
            ms: Math.round(performance.now() - t0),
            headers,
            setCookie: res.headers['set-cookie'] ?? [],
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    // The idle timeout resets with each byte: a slow trickle is bounded too, at twice the deadline.
    const whole = setTimeout(
      () => req.destroy(Object.assign(new Error(`not complete within ${2 * o.timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      2 * o.timeoutMs,
    );
    req.on('close', () => clearTimeout(whole));
    req.on('error', fail);
    req.end(o.body);
  });
}

export interface TlsEvidence {
  host: string;
  port: number;
  /** Handshake failed before any certificate was seen. */
  error?: { kind: HttpErrorKind; code: string; detail: string };
  /** The chain verifies against the trusted CAs. */
  trusted: boolean;
  /** Why not (OpenSSL's reason, e.g. CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE). */
  verifyError: string | null;
  /** The certificate names the host users connect to. */
  hostnameOk: boolean;
  hostnameError: string | null;
  subject: string | null;
  issuer: string | null;
  altNames: string | null;
  validFrom: string | null;
  validTo: string | null;
  /** Whole days until it expires (negative: expired that many days ago). */
  daysLeft: number | null;
  /** Subjects from the leaf up, as the server sent them (and the trusted root when found). */
  chain: string[];
}

const dn = (o: Record<string, string | string[]> | undefined) =>
  o
    ? Object.entries(o)
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
        .join(', ')
    : null;

/** A TLS handshake that looks at the certificate whatever is wrong with it: expiry, names, chain. */
export function tlsInspect(
  host: string,
  port: number,
  o: { ca?: string; timeoutMs: number; now?: number },
): Promise<TlsEvidence> {
  const empty = {
    trusted: false,
    verifyError: null,
    hostnameOk: false,
    hostnameError: null,
    subject: null,
    issuer: null,
    altNames: null,
    validFrom: null,
    validTo: null,
    daysLeft: null,
    chain: [],
  };
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      servername: isIP(host) ? undefined : host,
      ca: o.ca ? [...tls.rootCertificates, o.ca] : undefined,
      rejectUnauthorized: false,
    });
    const done = (e: TlsEvidence) => {
      socket.destroy();
      resolve(e);
    };
    socket.setTimeout(o.timeoutMs, () =>
      done({
        host,
        port,
        ...empty,
        error: { kind: 'timeout', code: 'ETIMEDOUT', detail: `no TLS handshake within ${o.timeoutMs} ms` },
      }),
    );
    socket.once('error', (err) => done({ host, port, ...empty, error: classifyNetError(err) }));
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate(true);
      if (!cert || !cert.subject)
        return done({
          host,
          port,
          ...empty,
          error: { kind: 'tls', code: 'NO_CERTIFICATE', detail: 'the server sent no certificate' },
        });
      const identity = tls.checkServerIdentity(host, cert);
      const chain: string[] = [];
      let c: PeerCertificate & { issuerCertificate?: PeerCertificate } = cert;
      for (let i = 0; i < 10 && c; i++) {
        chain.push(dn(c.subject as unknown as Record<string, string>) ?? '?');
        const next = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate;
        if (!next || next === c || next.fingerprint256 === c.fingerprint256) break;
        c = next;
      }
      const validTo = new Date(cert.valid_to);
      // Node reports a name mismatch as the authorization error when the chain itself verifies.
      const reason = socket.authorized ? null : String(socket.authorizationError ?? 'unknown');
      const chainOk = reason === null || reason === 'ERR_TLS_CERT_ALTNAME_INVALID';
      done({
        host,
        port,
        trusted: chainOk,
        verifyError: chainOk ? null : reason,
        hostnameOk: identity === undefined,
        hostnameError: identity ? identity.message : null,
        subject: dn(cert.subject as unknown as Record<string, string>),
        issuer: dn(cert.issuer as unknown as Record<string, string>),
        altNames: cert.subjectaltname ?? null,
        validFrom: new Date(cert.valid_from).toISOString(),
        validTo: validTo.toISOString(),
        daysLeft: Math.floor((validTo.getTime() - (o.now ?? Date.now())) / 86_400_000),
        chain,
      });
    });
  });
}
