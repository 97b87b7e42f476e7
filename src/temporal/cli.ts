import path from 'node:path';
import { buildIntoCache, cacheDir as goCacheDir, isExecutable, onPath, type Log } from '../util/go-build.js';
import { isMain, runMain } from '../util/main.js';

/**
 * Finds the official Temporal CLI, or builds it once with Go:
 * $TEMPORAL_CLI_PATH → `temporal` on PATH → our cache → `go install` into the cache.
 */

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const MODULE = 'github.com/temporalio/cli/cmd/temporal';

export class TemporalCliError extends Error {
  override name = 'TemporalCliError';
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines for people watching a first build (it takes minutes). */
  log?: Log;
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return goCacheDir(`temporal-cli-${TEMPORAL_CLI_VERSION}`, env);
}

export async function resolveTemporalCli(opts: ResolveOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) {
      throw new TemporalCliError(
        `TEMPORAL_CLI_PATH=${explicit} is not an executable file. Point it at a temporal binary, or unset it to build one.`,
      );
    }
    return explicit;
  }
  const found = onPath('temporal', env);
  if (found) return found;
  const cached = path.join(cacheDir(env), 'temporal');
  if (isExecutable(cached)) return cached;
  await buildIntoCache({
    what: `the Temporal CLI ${TEMPORAL_CLI_VERSION}`,
    dir: cacheDir(env),
    fix: 'set TEMPORAL_CLI_PATH to a temporal binary you already have',
    env,
    log: opts.log,
    build: (staging, go) => go.run(['install', '-v', `${MODULE}@${TEMPORAL_CLI_VERSION}`], { env: { GOBIN: staging } }),
  });
  return cached;
}

// `npm run temporal-cli` resolves (and if needed builds) the binary and prints its path.
if (isMain(import.meta.url)) runMain(async () => console.log(await resolveTemporalCli()));
