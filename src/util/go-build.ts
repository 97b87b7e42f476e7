import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/**
 * Builds Go programs once into a cache under ~/.cache/durable-runbooks (the Temporal CLI, the
 * Temporal server, its SQL tool, the UI server): no npm package ships them, and the Go module
 * proxy is the one source we can reach. A build goes into a staging directory that is renamed
 * into place only when every step succeeded, so an interrupted build never leaves a half cache.
 */

export const MIN_GO = [1, 25] as const;

export class GoBuildError extends Error {
  override name = 'GoBuildError';
}

export type Log = (line: string) => void;

/** `$XDG_CACHE_HOME/durable-runbooks/<name>`, else `~/.cache/durable-runbooks/<name>`. */
export function cacheDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'durable-runbooks', name);
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** `go` on PATH, else where the official tarball puts it (not on PATH in every shell). */
export function goBinary(env: NodeJS.ProcessEnv): string | undefined {
  return onPath('go', env) ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

async function goVersion(go: string, env: NodeJS.ProcessEnv): Promise<[number, number] | undefined> {
  const { stdout } = await execa(go, ['version'], { env, reject: false });
  const m = /go(\d+)\.(\d+)/.exec(stdout);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The go binary, or an error that says how to get one (or how to do without). */
async function requireGo(what: string, fix: string, env: NodeJS.ProcessEnv): Promise<{ go: string; version: string }> {
  const fixes = `Install Go >= ${MIN_GO.join('.')} (https://go.dev/doc/install), or ${fix}.`;
  const go = goBinary(env);
  const version = go ? await goVersion(go, env) : undefined;
  if (!go || !version) throw new GoBuildError(`Cannot build ${what}: Go is not installed. ${fixes}`);
  if (version[0] < MIN_GO[0] || (version[0] === MIN_GO[0] && version[1] < MIN_GO[1])) {
    throw new GoBuildError(`Cannot build ${what}: Go ${version.join('.')} is too old. ${fixes}`);
  }
  return { go, version: version.join('.') };
}

/** Runs go commands of one build, counting what they print for the progress lines. */
export interface GoRunner {
  go: string;
  /** Runs `go <args>`; throws GoBuildError with the last lines of output if it fails. */
  run(args: string[], opts?: { cwd?: string; env?: Record<string, string> }): Promise<void>;
  /** Output of a go command that prints one value (`go env GOMODCACHE`). */
  output(args: string[], opts?: { cwd?: string }): Promise<string>;
}

class Progress {
  downloads = 0;
  compiled = 0;
  last = '';

  see(line: string): void {
    if (line.startsWith('go: downloading')) this.downloads++;
    else if (line.startsWith('go: ')) {
      /* "go: added …", "go: creating new go.mod": not a package */
    } else if (line.trim()) this.compiled++;
    this.last = line.trim();
  }

  line(started: number): string {
    const secs = Math.round((Date.now() - started) / 1000);
    return `  … ${secs}s: ${this.downloads} modules downloaded, ${this.compiled} packages compiled (last: ${this.last})`;
  }
}

function runner(go: string, env: NodeJS.ProcessEnv, progress: Progress): GoRunner {
  return {
    go,
    async run(args, opts = {}) {
      const child = spawn(go, args, { cwd: opts.cwd, env: { ...env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const tail: string[] = [];
      const see = (line: string) => {
        progress.see(line);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      };
      let buffered = '';
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) see(line);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      const code = await new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', resolve);
      });
      if (buffered) see(buffered);
      if (code !== 0) throw new GoBuildError(`go ${args.join(' ')} exited ${code}. Last output:\n${tail.join('\n')}`);
    },
    async output(args, opts = {}) {
      const { stdout } = await execa(go, args, { cwd: opts.cwd, env });
      return stdout.trim();
    },
  };
}

export interface CacheBuild {
  /** What is built, for messages: "the Temporal CLI v1.5.1". */
  what: string;
  /** The cache directory it ends up in (replaced as a whole). */
  dir: string;
  /** What else the operator can do instead of building: "set TEMPORAL_CLI_PATH to a temporal binary". */
  fix: string;
  env?: NodeJS.ProcessEnv;
  log?: Log;
  /** Fills `staging` (same filesystem as `dir`); everything in it becomes the cache. */
  build(staging: string, go: GoRunner): Promise<void>;
}

/**
 * Runs `build` into a staging directory with a progress line every 10 s, then renames it to
 * `dir`. On failure the staging directory is removed and the error shows Go's last output.
 */
export async function buildIntoCache(spec: CacheBuild): Promise<void> {
  const env = spec.env ?? process.env;
  const log = spec.log ?? ((line: string) => console.error(line));
  const { go, version } = await requireGo(spec.what, spec.fix, env);
  const staging = `${spec.dir}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  log(`Building ${spec.what} with Go ${version} into ${spec.dir} (first time only; a few minutes)…`);
  const started = Date.now();
  const progress = new Progress();
  const ticker = setInterval(() => log(progress.line(started)), 10_000);
  try {
    await spec.build(staging, runner(go, { ...env, GOFLAGS: `${env.GOFLAGS ?? ''} -mod=mod`.trim() }, progress));
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    const reason = err instanceof Error ? err.message : String(err);
    throw new GoBuildError(
      `Building ${spec.what} failed: ${reason}\nFix the Go module proxy access (GOPROXY), or ${spec.fix}.`,
    );
  } finally {
    clearInterval(ticker);
  }
  rmSync(spec.dir, { recursive: true, force: true });
  renameSync(staging, spec.dir);
  log(`Built ${spec.what} in ${Math.round((Date.now() - started) / 1000)}s: ${spec.dir}`);
}
