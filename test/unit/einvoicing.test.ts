import { describe, expect, it } from 'vitest';
import { pkcs12Problem, readPkcs12 } from '../../src/activities/einvoicing.js';
import type { EinvoicingEvidence } from '../../src/activities/einvoicing.js';
import { diagnoseEinvoicing } from '../../src/runbooks/einvoicing-failed/workflow.js';
import { tmpDir } from '../support/harness.js';
import { days, issue, makeCa, pkcs12 } from '../support/tls.js';

describe('e-invoicing certificates (PKCS#12 through the openssl command line)', () => {
  it("opens modern and legacy (RC2) files, finds the key is the certificate's, and names a wrong password, a file with no key and a file that is not PKCS#12", async () => {
    const ca = await makeCa(tmpDir('p12-'), 'SRI Test CA');
    const cert = await issue(ca, 'firma', ['DNS:gestiq.example'], { from: days(-10), to: days(400) });
    const modern = await readPkcs12(await pkcs12(ca, 'modern', cert, 'clave-1'), 'clave-1');
    expect(modern).toMatchObject({
      error: null,
      legacy: false,
      subject: 'CN=firma',
      issuer: 'CN=SRI Test CA',
      keyMatches: true,
    });
    expect(modern.daysLeft).toBeGreaterThanOrEqual(399);
    const legacy = await readPkcs12(await pkcs12(ca, 'legacy', cert, 'clave-1', { legacy: true }), 'clave-1');
    expect(legacy).toMatchObject({ error: null, legacy: true, subject: 'CN=firma', keyMatches: true });
    const wrong = await readPkcs12(`${ca.dir}/modern.p12`, 'clave-2');
    expect(wrong.error).toBe(
      `cannot open ${ca.dir}/modern.p12: the password does not open it (MAC verify failure): check the password variable on the worker`,
    );
    expect(wrong.error).not.toContain('clave-2');
    expect(
      (await readPkcs12(await pkcs12(ca, 'nokey', cert, 'clave-1', { noKey: true }), 'clave-1')).keyMatches,
    ).toBeNull();
    expect((await readPkcs12(cert.cert, 'x')).error).toBe(
      `cannot open ${cert.cert}: it is not a readable PKCS#12 file (corrupt or another format)`,
    );
    expect((await readPkcs12(`${ca.dir}/missing.p12`, 'x')).error).toBe(
      `${ca.dir}/missing.p12 does not exist on this worker`,
    );
    expect(
      pkcs12Problem(
        'Error outputting keys and certificates\n40F7:error:0308010C:digital envelope routines:inner_evp_generic_fetch:unsupported:../crypto/evp/evp_fetch.c:373:Global default library context, Algorithm (RC2-40-CBC : 0)',
      ).legacy,
    ).toBe(true);
  });

  it("diagnoses: a key that is not the certificate's and the wrong environment block a retry; failed invoices are counted", () => {
    const e: EinvoicingEvidence = {
      failedStates: ['rechazada', 'error'],
      certificate: {
        file: '/f.p12',
        error: null,
        legacy: false,
        subject: 'CN=firma',
        issuer: 'CN=CA',
        serial: '10',
        validFrom: '2026-01-01T00:00:00.000Z',
        validTo: '2027-01-01T00:00:00.000Z',
        daysLeft: 20,
        keyMatches: false,
      },
      environment: { variable: 'EINVOICE_ENV', value: 'sandbox', expected: 'prod', envFile: '/srv/.env' },
      counts: {
        tables: [
          { table: 'invoices', present: true, byState: { autorizada: 5, rechazada: 2 } },
          { table: 'invoices_temp', present: true, byState: { error: 1 } },
        ],
        failedIds: [3, 4],
        failedTotal: 2,
      },
      logLines: [],
      logFile: null,
    };
    expect(diagnoseEinvoicing(e, 30)).toEqual([
      {
        cause: 'certificate-expiring',
        detail: 'The signing certificate (CN=firma) expires in 20 day(s), on 2027-01-01T00:00:00.000Z: renew it now.',
      },
      {
        cause: 'certificate-key',
        detail: "The private key in /f.p12 is not the certificate's: the signatures do not verify.",
      },
      {
        cause: 'wrong-environment',
        detail:
          'The app uses EINVOICE_ENV=sandbox (in /srv/.env), but this target expects prod: emissions go to the wrong provider environment.',
      },
      { cause: 'failed-invoices', detail: '2 invoice(s) in invoices failed to emit (autorizada: 5, rechazada: 2).' },
      {
        cause: 'failed-invoices',
        detail:
          "1 row(s) of invoices_temp are in a failed state (error: 1): counted, not retried by this runbook (the app's retry endpoint takes invoices ids).",
      },
    ]);
  });
});
