import { writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { privateDirSync } from '../util/private-fs.js';
import { spawnServer } from './process.js';
import type { TlsFiles } from './temporal.js';

/**
 * The Temporal UI server (github.com/temporalio/ui-server, the UI the CLI's dev server embeds)
 * on a loopback port, talking to the frontend over mTLS with a client certificate of its own and
 * verifying the frontend's certificate (the UI server skips that unless told).
 */

export interface TemporalUiOptions {
  binary: string;
  /** Its config, log and pid file. */
  dir: string;
  port: number;
  /** The frontend, `127.0.0.1:<port>`. */
  address: string;
  tls: TlsFiles;
  namespace: string;
  /** The codec server the UI decodes payloads with (the API's), if any. */
  codecEndpoint?: string;
  readyTimeoutMs?: number;
}

export interface TemporalUi {
  url: string;
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

const ENV = 'cluster';

export async function startTemporalUi(opts: TemporalUiOptions): Promise<TemporalUi> {
  const configDir = path.join(opts.dir, 'config');
  privateDirSync(configDir);
  const url = `http://127.0.0.1:${opts.port}`;
  writeFileSync(path.join(configDir, `${ENV}.yaml`), YAML.stringify(uiConfig(opts, url)), { mode: 0o600 });
  const ui = spawnServer(opts.binary, ['--root', opts.dir, '--config', 'config', '--env', ENV, 'start'], {
    cwd: opts.dir,
    logFile: path.join(opts.dir, 'temporal-ui.log'),
    pidFile: path.join(opts.dir, 'temporal-ui.pid'),
    what: 'A Temporal UI server',
  });
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  // Ready = it serves the namespace, which it can only get from the frontend through mTLS.
  for (;;) {
    const code = ui.exitCode();
    if (code !== undefined)
      throw new Error(
        `The Temporal UI server exited (code ${code}) before it was ready. Its log (${ui.logFile}) ends:\n${ui.tail()}`,
      );
    const res = await fetch(`${url}/api/v1/namespaces/${encodeURIComponent(opts.namespace)}`).catch(() => undefined);
    if (res?.ok) break;
    if (Date.now() > deadline) {
      await ui.kill();
      throw new Error(
        `The Temporal UI server did not serve namespace ${opts.namespace} on ${url} in time (last: ${res ? `HTTP ${res.status}` : 'no answer'}). Its log (${ui.logFile}) ends:\n${ui.tail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { url, stop: (graceMs) => ui.stop(graceMs), kill: () => ui.kill() };
}

function uiConfig(opts: TemporalUiOptions, url: string) {
  return {
    temporalGrpcAddress: opts.address,
    host: '127.0.0.1',
    port: opts.port,
    enableUi: true,
    defaultNamespace: opts.namespace,
    refreshInterval: '1m',
    // Plain HTTP on loopback: the CSRF cookie must not be Secure, or the browser drops it.
    cors: { allowOrigins: [url], cookieInsecure: true },
    tls: {
      caFile: opts.tls.caFile,
      certFile: opts.tls.certFile,
      keyFile: opts.tls.keyFile,
      serverName: opts.tls.serverName,
      enableHostVerification: true,
    },
    ...(opts.codecEndpoint ? { codec: { endpoint: opts.codecEndpoint, includeCredentials: true } } : {}),
    notifyOnNewVersion: false,
    hideLogs: true,
  };
}
