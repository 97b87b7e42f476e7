import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import { osFreePort } from '../util/ports.js';

/** Worker processes only (the API loads no worker module): see src/metrics/server.ts. */

/** The SDK Runtime, with its Prometheus exporter on a free loopback port when metrics are wanted. */
export async function installRuntime(
  opts: Omit<RuntimeOptions, 'telemetryOptions'>,
  metrics: boolean,
): Promise<string | undefined> {
  if (!metrics) {
    Runtime.install(opts);
    return undefined;
  }
  const port = await osFreePort();
  Runtime.install({
    ...opts,
    telemetryOptions: {
      metrics: {
        prometheus: { bindAddress: `127.0.0.1:${port}`, countersTotalSuffix: true, useSecondsForDurations: true },
      },
    },
  });
  return `http://127.0.0.1:${port}/metrics`;
}
