import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { freePort } from './ports.js';
import { tmpDir } from './harness.js';

/**
 * A PostgreSQL cluster of the test's own (initdb, SCRAM passwords, a free port), so a test can
 * restart it without disturbing the machine's server and other tests — and so passwords are really
 * exercised, which the machine's trust-auth server cannot show. Runs as the postgres OS user.
 */

const BIN = '/usr/lib/postgresql/15/bin';

export interface TestCluster {
  host: string;
  port: number;
  user: string;
  password: string;
  query: (database: string, text: string) => Promise<pg.QueryResult>;
  restart: () => Promise<void>;
  stop: () => Promise<void>;
}

export async function startCluster(): Promise<TestCluster> {
  const dir = tmpDir('pgcluster-');
  const uid = Number((await execa('id', ['-u', 'postgres'])).stdout);
  const gid = Number((await execa('id', ['-g', 'postgres'])).stdout);
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
  const password = `scram-${Math.random().toString(36).slice(2)}`;
  const pw = path.join(dir, 'pw');
  writeFileSync(pw, `${password}\n`);
  chownSync(pw, uid, gid);
  const data = path.join(dir, 'data');
  mkdirSync(data);
  chownSync(data, uid, gid);
  const port = await freePort();
  const asPg = (args: string[]) => execa('runuser', ['-u', 'postgres', '--', ...args], { cwd: dir });
  await asPg([
    `${BIN}/initdb`,
    '-D',
    data,
    '--auth=scram-sha-256',
    '--username=postgres',
    `--pwfile=${pw}`,
    '--no-sync',
  ]);
  const ctl = (action: string, extra: string[] = []) =>
    asPg([`${BIN}/pg_ctl`, '-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', ...extra, action]);
  const opts = ['-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`];
  await ctl('start', opts);
  const query = async (database: string, text: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database });
    await c.connect();
    try {
      return await c.query(text);
    } finally {
      await c.end();
    }
  };
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    query,
    restart: async () => {
      await ctl('restart', ['-m', 'fast', ...opts]);
    },
    stop: async () => {
      await ctl('stop', ['-m', 'immediate']).catch(() => undefined);
    },
  };
}
