import { createPrivateKey, X509Certificate } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import type { TargetRegistry } from '../targets.js';
import { parseDuration } from '../util/duration.js';
import { redact } from '../util/redact.js';
import { childEnv } from './child-env.js';
import { FailureType, targetFailure, targetSpec } from './errors.js';
import { httpRequest } from './http.js';
import { qi } from './imports.js';
import { envFileValue } from './login.js';
import { withPg } from './postgres.js';
import { logOffset, logSince } from './services.js';

/**
 * Seed 003 "Facturación electrónica fallida": the signing certificate (PKCS#12, opened with
 * `openssl pkcs12`, -legacy for older files, then node:crypto: expiry, key match), the provider
 * environment (sandbox/prod), invoices by `estado`, the app's e-invoicing log lines; and the retry
 * of failed emissions through the app, one Idempotency-Key per invoice and run.
 */

export interface CertificateEvidence {
  file: string;
  /** Why it could not be opened (missing, wrong password, corrupt); null when it was. */
  error: string | null;
  /** Opened only with -legacy (RC2/3DES, as older tools write them). */
  legacy: boolean;
  subject: string | null;
  issuer: string | null;
  serial: string | null;
  validFrom: string | null;
  validTo: string | null;
  daysLeft: number | null;
  /** The private key in the file is the certificate's; null when the file holds no key. */
  keyMatches: boolean | null;
}

export interface InvoiceCounts {
  tables: Array<{ table: string; present: boolean; byState: Record<string, number> }>;
  /** Failed invoices in the first table, oldest first, up to retryLimit. */
  failedIds: number[];
  failedTotal: number;
}

export interface EinvoicingEvidence {
  /** The states that mean a failed emission (einvoicing.failedStates). */
  failedStates: string[];
  certificate: CertificateEvidence | null;
  environment: { variable: string; value: string | null; expected: string; envFile: string } | null;
  counts: InvoiceCounts;
  /** The newest e-invoicing log lines (errors first), from the tail of app.logFile. */
  logLines: string[];
  logFile: string | null;
}

export interface RetryOutcome {
  id: number;
  key: string;
  status: number | null;
  ok: boolean;
  detail: string;
}

const PASS_VAR = 'RB_PKCS12_PASSWORD';

/** What `openssl pkcs12`'s complaint means for the person on call. Pure. */
export function pkcs12Problem(stderr: string): { legacy: boolean; message: string } {
  if (/unsupported|RC2-40|RC2-CBC|inner_evp_generic_fetch/i.test(stderr))
    return { legacy: true, message: 'written with legacy algorithms (RC2/3DES)' };
  if (/mac verify|invalid password/i.test(stderr))
    return {
      legacy: false,
      message: 'the password does not open it (MAC verify failure): check the password variable on the worker',
    };
  if (/expecting an asn1 sequence|asn1|not enough data|bad decrypt|header too long/i.test(stderr))
    return { legacy: false, message: 'it is not a readable PKCS#12 file (corrupt or another format)' };
  return {
    legacy: false,
    message:
      stderr
        .split('\n')
        .find((l) => l.trim())
        ?.trim()
        .slice(0, 200) ?? 'openssl failed',
  };
}

/** Opens a PKCS#12 file; the private key never leaves this function. */
export async function readPkcs12(file: string, password: string, now = Date.now()): Promise<CertificateEvidence> {
  const empty = {
    file,
    legacy: false,
    subject: null,
    issuer: null,
    serial: null,
    validFrom: null,
    validTo: null,
    daysLeft: null,
    keyMatches: null,
  };
  if (
    await access(file).then(
      () => false,
      () => true,
    )
  )
    return { ...empty, error: `${file} does not exist on this worker` };
  const run = (legacy: boolean) =>
    execa('openssl', ['pkcs12', '-in', file, '-nodes', '-passin', `env:${PASS_VAR}`, ...(legacy ? ['-legacy'] : [])], {
      reject: false,
      env: childEnv({ [PASS_VAR]: password }),
      extendEnv: false,
      timeout: 30_000,
      stripFinalNewline: false,
    });
  let r = await run(false);
  let legacy = false;
  if (r.exitCode !== 0 && pkcs12Problem(r.stderr).legacy) {
    r = await run(true);
    legacy = true;
  }
  if (r.exitCode !== 0)
    return { ...empty, legacy, error: `cannot open ${file}: ${pkcs12Problem(redact(r.stderr, [password])).message}` };
  const certs = [...r.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (m) => new X509Certificate(m[0]),
  );
  const keyPem = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(
    r.stdout,
  )?.[0];
  const key = keyPem ? createPrivateKey(keyPem) : null;
  const leaf = (key && certs.find((c) => c.checkPrivateKey(key))) ?? certs.find((c) => !c.ca) ?? certs[0];
  if (!leaf) return { ...empty, legacy, error: `${file} holds no certificate` };
  const validTo = new Date(leaf.validTo);
  return {
    file,
    error: null,
    legacy,
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    serial: leaf.serialNumber,
    validFrom: new Date(leaf.validFrom).toISOString(),
    validTo: validTo.toISOString(),
    daysLeft: Math.floor((validTo.getTime() - now) / 86_400_000),
    keyMatches: key ? leaf.checkPrivateKey(key) : null,
  };
}

export function createEinvoicingActivities(targets: TargetRegistry) {
  function specOf(target: string) {
    const spec = targetSpec(targets, target);
    if (!spec.einvoicing || !spec.app)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no einvoicing section in ${targets.file}: add einvoicing (certificate, environment, tables) under a target with app.url and postgres.`,
        FailureType.targetConfig,
      );
    return { e: spec.einvoicing, app: spec.app };
  }

  async function counts(target: string): Promise<InvoiceCounts> {
    const { e } = specOf(target);
    return withPg(targets, target, async (c) => {
      const tables: InvoiceCounts['tables'] = [];
      for (const table of e.tables) {
        const present =
          (await c.query<{ t: string | null }>('select to_regclass($1) as t', [table])).rows[0]?.t != null;
        const byState: Record<string, number> = {};
        if (present) {
          for (const row of (
            await c.query<{ state: string | null; n: string }>(
              `select ${qi(e.stateColumn)}::text as state, count(*) as n from ${qi(table)} group by 1 order by 1`,
            )
          ).rows)
            byState[row.state ?? '(null)'] = Number(row.n);
        }
        tables.push({ table, present, byState });
      }
      const first = tables[0]!;
      let failedIds: number[] = [];
      if (first.present) {
        failedIds = (
          await c.query<{ id: number }>(
            `select id from ${qi(first.table)} where ${qi(e.stateColumn)} = any($1) order by id limit $2`,
            [e.failedStates, e.retryLimit],
          )
        ).rows.map((r) => r.id);
      }
      const failedTotal = e.failedStates.reduce((n, s) => n + (first.byState[s] ?? 0), 0);
      return { tables, failedIds, failedTotal };
    });
  }

  return {
    async einvoiceInspect(target: string): Promise<EinvoicingEvidence> {
      const { e, app } = specOf(target);
      let certificate: CertificateEvidence | null = null;
      if (e.certificate) {
        let password: string | undefined;
        try {
          password = targets.certificatePassword(target);
        } catch (err) {
          targetFailure(err);
        }
        certificate = await readPkcs12(e.certificate.file, password ?? '');
      }
      const environment = e.environment
        ? {
            variable: e.environment.variable,
            expected: e.environment.expected,
            envFile: e.environment.envFile,
            value: await readFile(e.environment.envFile, 'utf8').then(
              (t) => envFileValue(t, e.environment!.variable),
              () => null,
            ),
          }
        : null;
      const logFile = app.logFile ?? null;
      let logLines: string[] = [];
      if (logFile) {
        const size = await logOffset(logFile);
        const lines = (await logSince(logFile, Math.max(0, size - (1 << 20))))
          .split('\n')
          .filter((l) => l.includes(e.logPattern));
        const errors = lines.filter((l) => /error|fail|rechaz|denied|invalid/i.test(l));
        logLines = [...errors.slice(-8), ...lines.filter((l) => !errors.includes(l)).slice(-2)].map((l) =>
          redact(l).slice(0, 400),
        );
      }
      return {
        failedStates: e.failedStates,
        certificate,
        environment,
        counts: await counts(target),
        logLines,
        logFile,
      };
    },

    async einvoiceCounts(target: string): Promise<InvoiceCounts> {
      return counts(target);
    },

    /**
     * Emits each invoice again through the app, with Idempotency-Key `<keyPrefix>-<id>`: a retried
     * activity sends the same keys, so the app emits each invoice at most once for this run.
     */
    async einvoiceRetry(
      target: string,
      ids: number[],
      keyPrefix: string,
    ): Promise<{ outcomes: RetryOutcome[]; logLines: string[] }> {
      const { e, app } = specOf(target);
      const mark = app.logFile ? await logOffset(app.logFile) : 0;
      // Only those still failed now: one emitted meanwhile (by the app, a person, an earlier attempt
      // of this step that got through) is not sent again.
      const table = e.tables[0]!;
      const still = new Set(
        await withPg(targets, target, async (c) =>
          (
            await c.query<{ id: number }>(
              `select id from ${qi(table)} where id = any($1) and ${qi(e.stateColumn)} = any($2)`,
              [ids, e.failedStates],
            )
          ).rows.map((r) => r.id),
        ),
      );
      const out: RetryOutcome[] = ids
        .filter((id) => !still.has(id))
        .map((id) => ({
          id,
          key: `${keyPrefix}-${id}`,
          status: null,
          ok: true,
          detail: 'no longer failed: not sent again',
        }));
      for (const id of ids.filter((i) => still.has(i))) {
        const key = `${keyPrefix}-${id}`;
        const url = new URL(e.retryPath.replace('{id}', String(id)), app.url).toString();
        const a = await httpRequest(url, {
          method: 'POST',
          timeoutMs: parseDuration(app.timeout),
          headers: { 'idempotency-key': key, 'content-type': 'application/json' },
          body: '{}',
        });
        const ok = a.status !== null && a.status >= 200 && a.status < 300;
        out.push({
          id,
          key,
          status: a.status,
          ok,
          detail: a.error ? `${a.error.kind}: ${a.error.detail}` : redact(a.body).split('\n')[0]!.slice(0, 200),
        });
      }
      // What the app said while emitting (the provider's answers), newest last.
      const logLines = app.logFile
        ? (await logSince(app.logFile, mark))
            .split('\n')
            .filter((l) => l.includes(e.logPattern))
            .slice(-10)
            .map((l) => redact(l).slice(0, 400))
        : [];
      return { outcomes: out, logLines };
    },
  };
}
