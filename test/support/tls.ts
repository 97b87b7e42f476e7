import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

/**
 * A test CA and server certificates made with the openssl command line (`openssl ca`, so a
 * certificate can be dated in the past: an expired one is real, not faked in the checker).
 */

export interface TestCa {
  dir: string;
  cert: string;
  key: string;
  config: string;
}

const openssl = (args: string[], cwd: string) => execa('openssl', args, { cwd });

export async function makeCa(dir: string, name: string): Promise<TestCa> {
  mkdirSync(path.join(dir, 'issued'), { recursive: true });
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '1000\n');
  const config = path.join(dir, 'ca.cnf');
  writeFileSync(
    config,
    [
      '[ ca ]',
      'default_ca = test_ca',
      '[ test_ca ]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'serial = $dir/serial',
      'new_certs_dir = $dir/issued',
      'certificate = $dir/ca.crt',
      'private_key = $dir/ca.key',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'copy_extensions = copy',
      'email_in_dn = no',
      '[ any ]',
      'commonName = supplied',
    ].join('\n') + '\n',
  );
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '30',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
  return { dir, cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key'), config };
}

const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';

/** A server certificate signed by `ca` for `altNames` (e.g. ['IP:127.0.0.1']), valid between the dates given. */
export async function issue(
  ca: TestCa,
  name: string,
  altNames: string[],
  validity: { from: Date; to: Date },
): Promise<{ cert: string; key: string }> {
  const key = path.join(ca.dir, `${name}.key`);
  const csr = path.join(ca.dir, `${name}.csr`);
  const cert = path.join(ca.dir, `${name}.crt`);
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${name}`,
      '-addext',
      `subjectAltName=${altNames.join(',')}`,
    ],
    ca.dir,
  );
  await openssl(
    [
      'ca',
      '-batch',
      '-config',
      ca.config,
      '-in',
      csr,
      '-out',
      cert,
      '-notext',
      '-startdate',
      stamp(validity.from),
      '-enddate',
      stamp(validity.to),
    ],
    ca.dir,
  );
  return { cert, key };
}

const DAY = 86_400_000;
export const days = (n: number) => new Date(Date.now() + n * DAY);

/** A PKCS#12 file (.p12) of `cert` and `key` (and the CA), as e-invoicing certificates are issued; `legacy`: RC2/3DES, as older tools write them. */
export async function pkcs12(
  ca: TestCa,
  name: string,
  issued: { cert: string; key: string },
  password: string,
  o: { legacy?: boolean; noKey?: boolean } = {},
): Promise<string> {
  const out = path.join(ca.dir, `${name}.p12`);
  await openssl(
    [
      'pkcs12',
      '-export',
      ...(o.legacy ? ['-legacy'] : []),
      ...(o.noKey ? ['-nokeys'] : ['-inkey', issued.key]),
      '-in',
      issued.cert,
      '-certfile',
      ca.cert,
      '-out',
      out,
      '-passout',
      `pass:${password}`,
    ],
    ca.dir,
  );
  return out;
}
