import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { privateDirSync } from '../util/private-fs.js';

/**
 * A throwaway CA and the certificates of a one-machine cluster, made with the openssl command
 * line: the frontend's server certificate, one for internode traffic (history, matching, worker
 * services talk to each other over mTLS too), and a client certificate per kind of client, so a
 * log line or an authorizer can tell them apart. Made once under `dir` and reused while valid.
 */

export const CLIENTS = ['worker', 'api', 'ui', 'cli', 'system-worker'] as const;
export type ClientName = (typeof CLIENTS)[number];

export interface CertPair {
  certFile: string;
  keyFile: string;
}

export interface ClusterCerts {
  dir: string;
  caFile: string;
  /** The name clients verify the frontend's certificate against (it is also valid for 127.0.0.1). */
  serverName: string;
  frontend: CertPair;
  /** Server and client certificate of the services among themselves; verified as `internodeServerName`. */
  internode: CertPair;
  internodeServerName: string;
  clients: Record<ClientName, CertPair>;
}

export class OpensslError extends Error {
  override name = 'OpensslError';
}

const SERVER_NAME = 'localhost';
const INTERNODE_NAME = 'temporal-internode';
const DAYS = 365;
/** Certificates this close to expiry are made again rather than reused. */
const RENEW_SECONDS = 7 * 86_400;

interface Leaf {
  name: string;
  sans: string[];
  usage: 'serverAuth' | 'clientAuth' | 'serverAuth,clientAuth';
}

function leaves(): Leaf[] {
  return [
    { name: 'frontend', sans: [`DNS:${SERVER_NAME}`, 'IP:127.0.0.1'], usage: 'serverAuth' },
    {
      name: 'internode',
      sans: [`DNS:${INTERNODE_NAME}`, 'DNS:localhost', 'IP:127.0.0.1'],
      usage: 'serverAuth,clientAuth',
    },
    ...CLIENTS.map((name): Leaf => ({
      name: `client-${name}`,
      sans: [`DNS:${name}.client.temporal`],
      usage: 'clientAuth',
    })),
  ];
}

/** Every file ensureClusterCerts writes: the CA's and each leaf's certificate and key. */
const ourFiles = () => ['ca', ...leaves().map((l) => l.name)].flatMap((n) => [`${n}.crt`, `${n}.key`]);

const pair = (dir: string, name: string): CertPair => ({
  certFile: path.join(dir, `${name}.crt`),
  keyFile: path.join(dir, `${name}.key`),
});

export function clusterCertPaths(dir: string): ClusterCerts {
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    serverName: SERVER_NAME,
    frontend: pair(dir, 'frontend'),
    internode: pair(dir, 'internode'),
    internodeServerName: INTERNODE_NAME,
    clients: Object.fromEntries(CLIENTS.map((c) => [c, pair(dir, `client-${c}`)])) as Record<ClientName, CertPair>,
  };
}

/**
 * The cluster's CA and certificates under `dir` (0700, files 0600): those present, signed by the
 * CA there and valid for another week are kept; the rest are made. A missing or expiring CA
 * replaces everything, since nothing it signed could be trusted with a new one.
 */
export async function ensureClusterCerts(dir: string, opts: { commonName?: string } = {}): Promise<ClusterCerts> {
  privateDirSync(dir);
  const ca = pair(dir, 'ca');
  if (!(await isValid(ca.certFile, ca.keyFile))) {
    // Only the files we make: the directory may hold other things (`npm run cluster:certs -- .`).
    for (const f of ourFiles()) rmSync(path.join(dir, f), { force: true });
    await makeCa(ca, opts.commonName ?? 'durable-runbooks cluster CA (throwaway)', dir);
  }
  for (const leaf of leaves()) {
    const p = pair(dir, leaf.name);
    if (!(await isValid(p.certFile, p.keyFile, ca.certFile))) await issue(ca, p, leaf, dir);
  }
  for (const f of ourFiles()) if (existsSync(path.join(dir, f))) chmodSync(path.join(dir, f), 0o600);
  return clusterCertPaths(dir);
}

async function openssl(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await execa('openssl', args, { cwd, stdin: 'ignore' });
    return stdout;
  } catch (err) {
    const e = err as { code?: string; stderr?: string; shortMessage?: string };
    if (e.code === 'ENOENT') {
      throw new OpensslError(
        'openssl is not installed, and the cluster needs it to make its certificates: install it (apt-get install openssl), then start again.',
      );
    }
    throw new OpensslError(`openssl ${args[0]} failed in ${cwd}: ${e.stderr?.trim() || e.shortMessage}`);
  }
}

/** Present, parseable, not expiring within a week, and (for a leaf) signed by the CA. */
async function isValid(certFile: string, keyFile: string, caFile?: string): Promise<boolean> {
  if (!existsSync(certFile) || !existsSync(keyFile)) return false;
  const dir = path.dirname(certFile);
  try {
    await openssl(['x509', '-in', certFile, '-noout', '-checkend', String(RENEW_SECONDS)], dir);
    if (caFile) await openssl(['verify', '-CAfile', caFile, certFile], dir);
    return true;
  } catch (err) {
    if (err instanceof OpensslError && /not installed/.test(err.message)) throw err;
    return false;
  }
}

const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function makeCa(ca: CertPair, commonName: string, dir: string): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      ...newKey,
      '-keyout',
      ca.keyFile,
      '-out',
      ca.certFile,
      '-days',
      String(DAYS),
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
}

async function issue(ca: CertPair, out: CertPair, leaf: Leaf, dir: string): Promise<void> {
  const csr = path.join(dir, `${leaf.name}.csr`);
  const ext = path.join(dir, `${leaf.name}.ext`);
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${leaf.usage}`,
      `subjectAltName=${leaf.sans.join(',')}`,
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  try {
    await openssl(['req', '-new', ...newKey, '-keyout', out.keyFile, '-out', csr, '-subj', `/CN=${leaf.name}`], dir);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.certFile,
        '-CAkey',
        ca.keyFile,
        '-set_serial',
        `0x${randomBytes(12).toString('hex')}`,
        '-days',
        String(DAYS),
        '-extfile',
        ext,
        '-out',
        out.certFile,
      ],
      dir,
    );
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
}
