import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { connectionOptions, describeConnection, searchAttributeCommands } from '../../src/temporal/connection.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'tls-vars-'));
const file = (name: string, text: string) => {
  writeFileSync(path.join(dir, name), text);
  return path.join(dir, name);
};
const cert = file('client.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const key = file('client.key', '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');
const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n');
const address = { TEMPORAL_ADDRESS: 'temporal.internal:7233' };

describe('Temporal connection settings', () => {
  it('is plain gRPC on the dev server, and mTLS with the CA, client pair and server name when they are set', () => {
    expect(connectionOptions(loadConfig({}))).toEqual({ address: '127.0.0.1:7233' });
    const config = loadConfig({
      ...address,
      TEMPORAL_TLS_CA: ca,
      TEMPORAL_TLS_CERT: cert,
      TEMPORAL_TLS_KEY: key,
      TEMPORAL_TLS_SERVER_NAME: 'frontend',
    });
    const options = connectionOptions(config);
    expect(options.address).toBe('temporal.internal:7233');
    expect(options.tls).toMatchObject({ serverNameOverride: 'frontend' });
    const tls = options.tls as { serverRootCACertificate: Buffer; clientCertPair: { crt: Buffer; key: Buffer } };
    expect(tls.serverRootCACertificate.toString()).toContain('MIIC');
    expect(tls.clientCertPair.crt.toString()).toContain('MIIB');
    expect(tls.clientCertPair.key.toString()).toContain('MIIE');
    expect(describeConnection(config)).toBe('temporal.internal:7233, namespace default, mTLS');
  });

  it('turns TLS on with the system CAs for a Temporal Cloud API key, and never names the key in messages', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'ns.acct',
      TEMPORAL_API_KEY: 'secret-api-key-123',
    });
    expect(connectionOptions(config)).toEqual({
      address: 'ns.acct.tmprl.cloud:7233',
      tls: {},
      apiKey: 'secret-api-key-123',
    });
    expect(describeConnection(config)).toBe('ns.acct.tmprl.cloud:7233, namespace ns.acct, TLS, API key');
    expect(describeConnection(config)).not.toContain('secret-api-key-123');
    expect(connectionOptions(loadConfig({ ...address, TEMPORAL_TLS: 'true' })).tls).toEqual({});
  });

  it('stops at start on a missing or non-PEM file, naming the variable', () => {
    const missing = loadConfig({ ...address, TEMPORAL_TLS_CA: path.join(dir, 'nope.pem') });
    expect(() => connectionOptions(missing)).toThrow(ConfigError);
    expect(() => connectionOptions(missing)).toThrow(
      `TEMPORAL_TLS_CA=${path.join(dir, 'nope.pem')}: cannot read it (ENOENT). Point TEMPORAL_TLS_CA at a PEM certificate file`,
    );
    const swapped = loadConfig({ ...address, TEMPORAL_TLS_CERT: key, TEMPORAL_TLS_KEY: cert });
    expect(() => connectionOptions(swapped)).toThrow(`TEMPORAL_TLS_CERT=${key}: not a PEM certificate`);
    const notKey = loadConfig({ ...address, TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: ca });
    expect(() => connectionOptions(notKey)).toThrow(`TEMPORAL_TLS_KEY=${ca}: not a PEM private key`);
  });

  it('takes an API key beside an mTLS pair (a self-hosted server with an authorizer), and over plain gRPC when TLS is turned off', () => {
    const both = connectionOptions(
      loadConfig({ ...address, TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_API_KEY: 'jwt' }),
    );
    expect(both.apiKey).toBe('jwt');
    expect(both.tls).toHaveProperty('clientCertPair');
    expect(connectionOptions(loadConfig({ ...address, TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'jwt' }))).toEqual({
      address: 'temporal.internal:7233',
      apiKey: 'jwt',
    });
  });

  it('refuses settings that cannot work together', () => {
    expect(() => loadConfig({ ...address, TEMPORAL_TLS_CERT: cert })).toThrow(
      'TEMPORAL_TLS_CERT is set without TEMPORAL_TLS_KEY',
    );
    expect(() => loadConfig({ ...address, TEMPORAL_TLS_KEY: key })).toThrow(
      'TEMPORAL_TLS_KEY is set without TEMPORAL_TLS_CERT',
    );
    expect(() => loadConfig({ ...address, TEMPORAL_TLS: 'false', TEMPORAL_TLS_CA: ca })).toThrow(
      'TEMPORAL_TLS=false, but TEMPORAL_TLS_CA',
    );
    expect(() => loadConfig({ TEMPORAL_TLS_SERVER_NAME: 'frontend' })).toThrow(
      'TEMPORAL_TLS_* or TEMPORAL_API_KEY is set but TEMPORAL_ADDRESS is not',
    );
    expect(() => loadConfig({ TEMPORAL_TLS_CA: ca })).toThrow(
      'TEMPORAL_TLS_* or TEMPORAL_API_KEY is set but TEMPORAL_ADDRESS is not',
    );
    expect(() => loadConfig({ ...address, TEMPORAL_TLS: 'yes' })).toThrow('TEMPORAL_TLS must be true or false');
    expect(() => loadConfig({ RUNBOOK_SEARCH_ATTRIBUTES: 'maybe' })).toThrow(
      'RUNBOOK_SEARCH_ATTRIBUTES must be register or skip',
    );
  });

  it('gives an operator the temporal commands that create our search attributes, with the same TLS settings', () => {
    const config = loadConfig({
      ...address,
      TEMPORAL_NAMESPACE: 'ops',
      TEMPORAL_TLS_CA: ca,
      TEMPORAL_TLS_CERT: cert,
      TEMPORAL_TLS_KEY: key,
    });
    expect(searchAttributeCommands(config, ['RunbookName']).trim()).toBe(
      `temporal operator search-attribute create --namespace ops --name RunbookName --type Keyword --address temporal.internal:7233 --tls --tls-ca-path ${ca} --tls-cert-path ${cert} --tls-key-path ${key}`,
    );
  });
});
