import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  buildIntoCache,
  cacheDir as goCacheDir,
  GoBuildError,
  isExecutable,
  type GoRunner,
  type Log,
} from '../util/go-build.js';
import { isMain, runMain } from '../util/main.js';

/**
 * The production Temporal server (not the CLI's dev server): `go.temporal.io/server/cmd/server`,
 * its `temporal-sql-tool`, the PostgreSQL schemas and example config of the same module, and the
 * Temporal UI server, built once with Go into ~/.cache/durable-runbooks/temporal-server-<version>/.
 * $TEMPORAL_SERVER_DIR (a directory laid out like that cache, e.g. restored by CI) skips the build.
 */

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';
/** The UI server the Temporal CLI v1.5.1 embeds (its go.mod): the same UI as `npm start` shows. */
export const TEMPORAL_UI_SERVER_VERSION = 'v2.42.1';
const UI_MODULE = 'github.com/temporalio/ui-server/v2';

const FILES = {
  server: 'temporal-server',
  sqlTool: 'temporal-sql-tool',
  uiServer: 'temporal-ui-server',
  /** Why the UI server is not there (Go's last output), when its build failed. */
  uiServerFailed: 'temporal-ui-server.failed.txt',
  schemaDir: 'schema/postgresql/v12',
  configTemplate: 'config/development-postgres12.yaml',
  dynamicConfig: 'config/dynamicconfig/development-sql.yaml',
} as const;

export interface TemporalServerInstall {
  dir: string;
  server: string;
  sqlTool: string;
  /** `temporal/` and `visibility/` schemas, each with `versioned/` for `update-schema -d`. */
  schemaDir: string;
  /** The module's `config/development-postgres12.yaml`, which our cluster config derives from. */
  configTemplate: string;
  dynamicConfig: string;
  uiServer?: string;
  /** Why there is no UI server, when `uiServer` is missing. */
  uiServerMissing?: string;
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines for people watching a first build (it takes minutes). */
  log?: Log;
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return goCacheDir(`temporal-server-${TEMPORAL_SERVER_VERSION}`, env);
}

/** $TEMPORAL_SERVER_DIR → our cache → a build into the cache. */
export async function resolveTemporalServer(opts: ResolveOptions = {}): Promise<TemporalServerInstall> {
  const env = opts.env ?? process.env;
  const explicit = env.TEMPORAL_SERVER_DIR;
  if (explicit) {
    const install = describe(explicit);
    const missing = missingParts(install);
    if (missing.length > 0) {
      throw new GoBuildError(
        `TEMPORAL_SERVER_DIR=${explicit} lacks ${missing.join(', ')}. Point it at a directory made by \`npm run temporal-server\`, or unset it to build one.`,
      );
    }
    return install;
  }
  const dir = cacheDir(env);
  if (missingParts(describe(dir)).length === 0) return describe(dir);
  await buildIntoCache({
    what: `the Temporal server ${TEMPORAL_SERVER_VERSION}, temporal-sql-tool and UI server ${TEMPORAL_UI_SERVER_VERSION}`,
    dir,
    fix: 'set TEMPORAL_SERVER_DIR to a directory with temporal-server, temporal-sql-tool and schema/ built before',
    env,
    log: opts.log,
    build: (staging, go) => buildAll(staging, go, opts.log ?? console.error),
  });
  return describe(dir);
}

function describe(dir: string): TemporalServerInstall {
  const at = (file: string) => path.join(dir, file);
  const uiServer = isExecutable(at(FILES.uiServer)) ? at(FILES.uiServer) : undefined;
  const failed = at(FILES.uiServerFailed);
  return {
    dir,
    server: at(FILES.server),
    sqlTool: at(FILES.sqlTool),
    schemaDir: at(FILES.schemaDir),
    configTemplate: at(FILES.configTemplate),
    dynamicConfig: at(FILES.dynamicConfig),
    uiServer,
    uiServerMissing: uiServer
      ? undefined
      : existsSync(failed)
        ? readFileSync(failed, 'utf8')
        : `${at(FILES.uiServer)} does not exist.`,
  };
}

function missingParts(install: TemporalServerInstall): string[] {
  const missing = [install.server, install.sqlTool].filter((f) => !isExecutable(f));
  for (const f of [
    path.join(install.schemaDir, 'temporal/versioned'),
    path.join(install.schemaDir, 'visibility/versioned'),
    install.configTemplate,
  ]) {
    if (!existsSync(f)) missing.push(f);
  }
  return missing.map((f) => path.relative(install.dir, f));
}

// -v: package names for the progress lines; no symbol tables (-s -w): a third smaller cache for CI to keep.
const BUILD_FLAGS = ['-v', '-ldflags=-s -w'];

async function buildAll(staging: string, go: GoRunner, log: Log): Promise<void> {
  await withScratchModule(go, 'runbooks-temporal-server', async (cwd) => {
    const server = `${SERVER_MODULE}/cmd/server`;
    const sqlTool = `${SERVER_MODULE}/cmd/tools/sql`;
    await go.run(['get', `${server}@${TEMPORAL_SERVER_VERSION}`, `${sqlTool}@${TEMPORAL_SERVER_VERSION}`], { cwd });
    await go.run(['build', ...BUILD_FLAGS, '-o', path.join(staging, FILES.server), server], { cwd });
    await go.run(['build', ...BUILD_FLAGS, '-o', path.join(staging, FILES.sqlTool), sqlTool], { cwd });
  });
  const moduleDir = path.join(await go.output(['env', 'GOMODCACHE']), `${SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`);
  for (const part of [FILES.schemaDir, FILES.configTemplate, FILES.dynamicConfig])
    copyWritable(path.join(moduleDir, part), path.join(staging, part));
  await buildUiServer(staging, go, log);
}

/**
 * The UI server is optional: the cluster runs without it. A failure is kept in the cache with
 * Go's output, so `resolveTemporalServer` can say why, and is not retried on every start
 * (delete the cache directory to retry).
 */
async function buildUiServer(staging: string, go: GoRunner, log: Log): Promise<void> {
  try {
    await withScratchModule(go, 'runbooks-temporal-ui-server', async (cwd) => {
      await go.run(['get', `${UI_MODULE}@${TEMPORAL_UI_SERVER_VERSION}`], { cwd });
      await go.run(['build', ...BUILD_FLAGS, '-o', path.join(staging, FILES.uiServer), `${UI_MODULE}/cmd/server`], {
        cwd,
      });
    });
  } catch (err) {
    const reason = `Building the Temporal UI server ${UI_MODULE}@${TEMPORAL_UI_SERVER_VERSION} failed: ${(err as Error).message}`;
    writeFileSync(path.join(staging, FILES.uiServerFailed), `${reason}\n`);
    log(
      `${reason.split('\n')[0]} The cluster runs without the UI; ${FILES.uiServerFailed} in the cache keeps Go's output (delete the cache to retry).`,
    );
  }
}

/** A throwaway `go mod init` module: `go get` + `go build` there pin exactly the versions asked for. */
async function withScratchModule(go: GoRunner, name: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  try {
    await go.run(['mod', 'init', name], { cwd: dir });
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Copies out of the read-only module cache and makes the copy removable (0755 dirs, 0644 files). */
function copyWritable(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
  const fix = (p: string) => {
    if (statSync(p).isDirectory()) {
      chmodSync(p, 0o755);
      for (const name of readdirSync(p)) fix(path.join(p, name));
    } else chmodSync(p, 0o644);
  };
  fix(to);
}

// `npm run temporal-server` resolves (and if needed builds) the binaries and prints their paths.
if (isMain(import.meta.url)) {
  runMain(async () => {
    const install = await resolveTemporalServer();
    console.log(`server      ${install.server}`);
    console.log(`sql tool    ${install.sqlTool}`);
    console.log(`schemas     ${install.schemaDir}`);
    console.log(`config      ${install.configTemplate}`);
    console.log(`ui server   ${install.uiServer ?? `not built: ${install.uiServerMissing?.trim()}`}`);
  });
}
