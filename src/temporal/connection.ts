import { readFileSync } from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { ConfigError, temporalAddress, type Config } from '../config.js';
import { searchAttributeKeys } from '../contract/search-attributes.js';
import { registerSearchAttributes } from './setup.js';

/**
 * How every process of ours (worker, API, CLI, tests) reaches Temporal: plain on the dev server;
 * TLS or mTLS on a self-hosted server; TLS with an API key on Temporal Cloud. The variables are
 * the `temporal` CLI's own (TEMPORAL_TLS_CA, _CERT, _KEY, _SERVER_NAME, TEMPORAL_API_KEY), so one
 * environment serves our processes and the operator's `temporal` commands alike.
 */

/** What the SDK's Connection and NativeConnection both take. */
export type TemporalConnectionOptions = Pick<ConnectionOptions, 'address' | 'tls' | 'apiKey'> &
  Pick<NativeConnectionOptions, 'address' | 'tls' | 'apiKey'> & { address: string };

/** A PEM file named by a variable, read now: a missing or wrong file is an error naming the variable. */
function pemFile(variable: string, file: string, kind: 'certificate' | 'private key'): Buffer {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(
      `${variable}=${file}: cannot read it (${code}). Point ${variable} at a PEM ${kind} file this process can read.`,
    );
  }
  const marker = kind === 'certificate' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (!marker.test(text.toString('latin1'))) {
    throw new ConfigError(
      `${variable}=${file}: not a PEM ${kind} (no "-----BEGIN ${kind === 'certificate' ? 'CERTIFICATE' : '… PRIVATE KEY'}-----" line). Point ${variable} at the ${kind} in PEM form.`,
    );
  }
  return text;
}

/** The SDK's connection options from the configuration; reads the certificate files. */
export function connectionOptions(config: Config): TemporalConnectionOptions {
  const address = temporalAddress(config);
  const t = config.temporal;
  if (!t.tls) return { address, ...(t.apiKey ? { apiKey: t.apiKey } : {}) };
  const tls = {
    ...(t.tls.serverName ? { serverNameOverride: t.tls.serverName } : {}),
    ...(t.tls.caFile ? { serverRootCACertificate: pemFile('TEMPORAL_TLS_CA', t.tls.caFile, 'certificate') } : {}),
    ...(t.tls.certFile && t.tls.keyFile
      ? {
          clientCertPair: {
            crt: pemFile('TEMPORAL_TLS_CERT', t.tls.certFile, 'certificate'),
            key: pemFile('TEMPORAL_TLS_KEY', t.tls.keyFile, 'private key'),
          },
        }
      : {}),
  };
  return { address, tls, ...(t.apiKey ? { apiKey: t.apiKey } : {}) };
}

/** Which settings a connection uses, for messages (never the key itself). */
export function describeConnection(config: Config): string {
  const t = config.temporal;
  const parts = [temporalAddress(config), `namespace ${config.namespace}`];
  if (t.tls) parts.push(t.tls.certFile ? 'mTLS' : 'TLS');
  if (t.apiKey) parts.push('API key');
  return parts.join(', ');
}

const grpcCode = (err: unknown): number | undefined => (err as { code?: number }).code;
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;
const UNIMPLEMENTED = 12;

/** A client connection that says what to check when it fails (TLS mismatch, wrong address). */
export async function connectClient(config: Config, opts: { connectTimeout?: number } = {}): Promise<Connection> {
  const options = connectionOptions(config);
  return Connection.connect({ ...options, connectTimeout: opts.connectTimeout ?? 5000 }).catch((err: Error) => {
    throw new Error(`Cannot reach Temporal at ${describeConnection(config)} (${err.message}). ${connectHint(config)}`);
  });
}

function connectHint(config: Config): string {
  if (!config.temporalAddress) return 'Is `npm start` running, or should TEMPORAL_ADDRESS point at your server?';
  if (!config.temporal.tls)
    return 'Is TEMPORAL_ADDRESS right? A server that requires TLS also needs TEMPORAL_TLS_CA (and TEMPORAL_TLS_CERT/TEMPORAL_TLS_KEY for mTLS, or TEMPORAL_API_KEY for Temporal Cloud).';
  return "Is TEMPORAL_ADDRESS right, and do TEMPORAL_TLS_CA / TEMPORAL_TLS_SERVER_NAME match the server's certificate (and TEMPORAL_TLS_CERT/_KEY one its CA accepts)?";
}

/**
 * The namespace exists and we may use it: a missing namespace names the command that creates it
 * (the bare answer is `5 NOT_FOUND`), a refused credential says which variables to check.
 */
export async function checkNamespace(connection: Connection, config: Config): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace: config.namespace });
  } catch (err) {
    const code = grpcCode(err);
    if (code === NOT_FOUND) {
      throw new ConfigError(
        `Temporal namespace "${config.namespace}" does not exist on ${temporalAddress(config)}. Create it (${tlsFlags(config) ? 'with the same TLS settings' : 'once'}):\n  temporal operator namespace create --namespace ${config.namespace} --retention 30d --address ${temporalAddress(config)}${tlsFlags(config)}\nor set TEMPORAL_NAMESPACE to one that exists.`,
      );
    }
    if (code === PERMISSION_DENIED || code === UNAUTHENTICATED) {
      throw new ConfigError(
        `Temporal at ${describeConnection(config)} refused us the namespace "${config.namespace}" (${(err as Error).message}). Check TEMPORAL_API_KEY or the client certificate (TEMPORAL_TLS_CERT) and what it is allowed on that namespace.`,
      );
    }
    throw err;
  }
}

/** The `temporal` CLI flags for our TLS settings (paths only; the API key comes from TEMPORAL_API_KEY). */
function tlsFlags(config: Config): string {
  const t = config.temporal.tls;
  if (!t) return '';
  return [
    ' --tls',
    t.caFile ? ` --tls-ca-path ${t.caFile}` : '',
    t.certFile ? ` --tls-cert-path ${t.certFile}` : '',
    t.keyFile ? ` --tls-key-path ${t.keyFile}` : '',
    t.serverName ? ` --tls-server-name ${t.serverName}` : '',
  ].join('');
}

/** The commands that create our search attributes, for an operator whose server refuses us the operator API. */
export function searchAttributeCommands(config: Config, names: string[]): string {
  return names
    .map(
      (name) =>
        `  temporal operator search-attribute create --namespace ${config.namespace} --name ${name} --type Keyword --address ${temporalAddress(config)}${tlsFlags(config)}`,
    )
    .join('\n');
}

/**
 * Our search attributes on a server we did not start: registered when missing, if the server lets
 * us; where the operator API is refused (Temporal Cloud, a locked-down cluster), an error with the
 * commands to run, and RUNBOOK_SEARCH_ATTRIBUTES=skip once they exist. Returns the ones added.
 */
export async function ensureSearchAttributes(connection: Connection, config: Config): Promise<string[]> {
  try {
    return await registerSearchAttributes(connection, config.namespace);
  } catch (err) {
    const code = grpcCode(err);
    if (code !== PERMISSION_DENIED && code !== UNAUTHENTICATED && code !== UNIMPLEMENTED) throw err;
    throw new ConfigError(
      `Temporal at ${describeConnection(config)} does not let us register search attributes (${(err as Error).message}). Have an operator run:\n${searchAttributeCommands(
        config,
        searchAttributeKeys.map((k) => k.name),
      )}\n(on Temporal Cloud: create them as Keyword in the Cloud UI or with tcld), then set RUNBOOK_SEARCH_ATTRIBUTES=skip.`,
    );
  }
}

/**
 * Before a worker polls or the API takes requests: the server answers, the namespace exists, and
 * (on a server we did not start, unless skipped) our search attributes are there.
 */
export async function prepareTemporal(config: Config, log: (line: string) => void = console.log): Promise<void> {
  const connection = await connectClient(config);
  try {
    await checkNamespace(connection, config);
    if (config.temporalAddress && config.searchAttributes === 'register') {
      const added = await ensureSearchAttributes(connection, config);
      if (added.length > 0) log(`Registered search attributes on ${temporalAddress(config)}: ${added.join(', ')}`);
    }
  } finally {
    await connection.close();
  }
}
