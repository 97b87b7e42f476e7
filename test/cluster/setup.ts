import path from 'node:path';
import pg from 'pg';
import { bringUpTemporal } from '../../src/cluster/temporal-up.js';
import { tmpDir } from '../support/harness.js';

/**
 * The cluster lane's Temporal: the real server on PostgreSQL with mTLS (src/cluster), handed to
 * test/global-setup.ts (which runs next) through TEMPORAL_ADDRESS and the TLS variables, so the
 * suite's tests chosen in vitest.cluster.config.ts run against it unchanged. Its databases are
 * this run's own and are dropped at the end.
 */
export default async function setup() {
  const prefix = `rblane_${Date.now().toString(36)}`;
  const postgres = { host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres' };
  const started = Date.now();
  const temporal = await bringUpTemporal({
    dir: path.join(tmpDir('runbooks-lane-'), 'cluster'),
    postgres,
    prefix,
    log: (l) => console.log(l),
  });
  console.log(`Cluster lane: Temporal up in ${Math.round((Date.now() - started) / 1000)} s at ${temporal.address}`);
  Object.assign(process.env, {
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TLS_CA: temporal.tls.caFile,
    TEMPORAL_TLS_CERT: temporal.tls.certFile,
    TEMPORAL_TLS_KEY: temporal.tls.keyFile,
    TEMPORAL_TLS_SERVER_NAME: temporal.tls.serverName,
  });
  return async () => {
    await temporal.stop();
    const client = new pg.Client({ ...postgres, database: 'postgres' });
    await client.connect();
    try {
      for (const db of [`${prefix}_temporal`, `${prefix}_temporal_visibility`])
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  };
}
