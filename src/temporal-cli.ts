import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { isMain, runMain } from './util/main.js';

/**
 * Finds the official Temporal CLI, or builds it once with Go:
 * $TEMPORAL_CLI_PATH → `temporal` on PATH → our cache → `go install` into the cache.
 */

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const MODULE = 'github.com/temporalio/cli/cmd/temporal';
const MIN_GO = [1, 25] as const;

export class TemporalCliError extends Error {
  override name = 'TemporalCliError';
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines for people watching a first build (it takes minutes). */
  log?: (line: string) => void;
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'durable-runbooks', `temporal-cli-${TEMPORAL_CLI_VERSION}`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

export async function resolveTemporalCli(opts: ResolveOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => console.error(line));
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) {
      throw new TemporalCliError(`TEMPORAL_CLI_PATH=${explicit} is not an executable file. Point it at a temporal binary, or unset it to build one.`);
    }
    return explicit;
  }
  const found = onPath('temporal', env);
  if (found) return found;
  const cached = path.join(cacheDir(env), 'temporal');
  if (isExecutable(cached)) return cached;
  await buildTemporalCli(cached, env, log);
  return cached;
}

async function goVersion(env: NodeJS.ProcessEnv): Promise<[number, number] | undefined> {
  const go = onPath('go', env) ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) return undefined;
  const { stdout } = await execa(go, ['version'], { env, reject: false });
  const m = /go(\d+)\.(\d+)/.exec(stdout);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function goBinary(env: NodeJS.ProcessEnv): string {
  return onPath('go', env) ?? '/usr/local/go/bin/go';
}

async function buildTemporalCli(target: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  const fixes = `Install Go >= ${MIN_GO.join('.')} (https://go.dev/doc/install), or set TEMPORAL_CLI_PATH to a temporal binary you already have.`;
  const version = await goVersion(env);
  if (!version) throw new TemporalCliError(`The Temporal CLI was not found and Go is not installed to build it. ${fixes}`);
  if (version[0] < MIN_GO[0] || (version[0] === MIN_GO[0] && version[1] < MIN_GO[1])) {
    throw new TemporalCliError(`The Temporal CLI was not found and Go ${version.join('.')} is too old to build it. ${fixes}`);
  }
  const dir = path.dirname(target);
  const staging = `${dir}.building-${process.pid}`;
  mkdirSync(staging, { recursive: true });
  log(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go ${version.join('.')} into ${dir} (first time only; a few minutes)…`);
  const started = Date.now();
  let downloads = 0;
  let compiled = 0;
  let last = '';
  const tail: string[] = [];
  const child = spawn(goBinary(env), ['install', '-v', `${MODULE}@${TEMPORAL_CLI_VERSION}`], {
    env: { ...env, GOBIN: staging, GOFLAGS: '-mod=mod' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ticker = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    log(`  … ${secs}s: ${downloads} modules downloaded, ${compiled} packages compiled (last: ${last})`);
  }, 10_000);
  let buffered = '';
  child.stderr.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('go: downloading')) downloads++;
      else if (line.trim()) compiled++;
      last = line.trim();
      tail.push(line);
      if (tail.length > 20) tail.shift();
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(ticker);
  if (code !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new TemporalCliError(
      `Building the Temporal CLI failed (go install exited ${code}). Last output:\n${tail.join('\n')}\nFix the Go module proxy access, or set TEMPORAL_CLI_PATH to a temporal binary.`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  log(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)}s: ${target}`);
}

// `npm run temporal-cli` resolves (and if needed builds) the binary and prints its path.
if (isMain(import.meta.url)) runMain(async () => console.log(await resolveTemporalCli()));
