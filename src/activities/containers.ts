import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { TargetRegistry, TargetSpec } from '../targets.js';
import { trimOutput } from '../util/redact.js';
import { childEnv, DOCKER_VARS } from './child-env.js';
import { FailureType, targetSpec } from './errors.js';
import { runBounded } from './services.js';

/**
 * The files an app needs, where it runs: inside a container (one driver speaking the Docker CLI;
 * Podman's docker-compatible CLI works the same) or in a local directory. Detects a missing or
 * different file, copies the good one in, and reads a container's mounts (a volume can hide a file
 * the image has). The argv builders and parsers are pure and unit-tested on real CLI output.
 */

export interface ContainerState {
  name: string;
  running: boolean;
  status: string;
  image: string;
  workdir: string;
  mounts: Array<{ type: string; source: string; destination: string }>;
}

export interface FileState {
  path: string;
  /** Where it was looked for: <container>:<abs path> or a local path. */
  where: string;
  present: boolean;
  /** sha256 of the app's copy, when present; of the good copy on the host. */
  sha256?: string;
  sourceSha256?: string;
  sourceMissing?: boolean;
  /** Present but different from the good copy. */
  differs: boolean;
  /** A mount over the file's directory: the image's copy is hidden by it. */
  hiddenBy?: string;
}

export const docker = {
  inspect: (name: string) => ['docker', 'inspect', '--type', 'container', name],
  ps: () => ['docker', 'ps', '--all', '--no-trunc', '--format', '{{json .}}'],
  sha256: (name: string, file: string) => ['docker', 'exec', name, 'sha256sum', file],
  mkdir: (name: string, dir: string) => ['docker', 'exec', name, 'mkdir', '-p', dir],
  cp: (source: string, name: string, dest: string) => ['docker', 'cp', source, `${name}:${dest}`],
};

/** `docker inspect` (a JSON array) → the container's state. */
export function parseInspect(json: string): ContainerState {
  const [c] = JSON.parse(json) as Array<{
    Name: string;
    State: { Running: boolean; Status: string };
    Config: { Image: string; WorkingDir?: string };
    Mounts?: Array<{ Type: string; Source: string; Destination: string }>;
  }>;
  if (!c) throw new Error('docker inspect returned no container');
  return {
    name: c.Name.replace(/^\//, ''),
    running: c.State.Running,
    status: c.State.Status,
    image: c.Config.Image,
    workdir: c.Config.WorkingDir || '/',
    mounts: (c.Mounts ?? []).map((m) => ({ type: m.Type, source: m.Source, destination: m.Destination })),
  };
}

/** `docker ps --format '{{json .}}'` (one JSON object per line) → name, state, status, ports. */
export function parsePs(
  text: string,
): Array<{ name: string; state: string; status: string; ports: string; image: string }> {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const o = JSON.parse(l) as { Names: string; State: string; Status: string; Ports: string; Image: string };
      return { name: o.Names, state: o.State, status: o.Status, ports: o.Ports, image: o.Image };
    });
}

/** The mount whose destination contains `file` (the longest), if any. */
export function mountOver(
  mounts: ContainerState['mounts'],
  file: string,
): ContainerState['mounts'][number] | undefined {
  return mounts
    .filter(
      (m) =>
        file === m.destination || file.startsWith(m.destination.endsWith('/') ? m.destination : `${m.destination}/`),
    )
    .sort((a, b) => b.destination.length - a.destination.length)[0];
}

const ENGINE_DOWN =
  /Cannot connect to the Docker daemon|error during connect|Is the docker daemon running|connect: no such file or directory.*docker\.sock|cannot connect to Podman/i;

/** What to do so the file is there next time, not only now. */
export function permanentFix(spec: NonNullable<TargetSpec['app']>, files: FileState[]): string {
  const missing = files.filter((f) => !f.present || f.differs);
  if (spec.container) {
    const hidden = missing.filter((f) => f.hiddenBy);
    return [
      `Ship ${missing.map((f) => f.path).join(', ')} in the image: add \`COPY ${missing.map((f) => f.path).join(' ')} ${spec.container.workdir}/…\` (one COPY per directory) to the Dockerfile and check .dockerignore does not exclude them; rebuild and redeploy.`,
      ...(hidden.length
        ? [
            `${hidden.map((f) => `${f.path} is under the mount ${f.hiddenBy}`).join('; ')}: the mounted directory hides the image's copy — add the file to the mounted source, or narrow the volume in docker-compose.yml.`,
          ]
        : []),
      'A copied-in file lives only as long as this container: a recreate loses it.',
    ].join(' ');
  }
  return `Ship ${missing.map((f) => f.path).join(', ')} with the app's deploy to ${spec.dir}: it is missing from the deployed directory, so the next deploy would lose the copy made now.`;
}

async function sha256File(file: string): Promise<string | undefined> {
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch {
    return undefined;
  }
}

export function createContainerActivities(targets: TargetRegistry, env: NodeJS.ProcessEnv = process.env) {
  function appOf(
    target: string,
  ): NonNullable<TargetSpec['app']> & { files: NonNullable<NonNullable<TargetSpec['app']>['files']> } {
    const app = targetSpec(targets, target).app;
    if (!app?.files?.length)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" declares no app.files in ${targets.file}: list the files the app needs, with the good copy's path on the host (source).`,
        FailureType.targetConfig,
      );
    return app as ReturnType<typeof appOf>;
  }

  async function dockerRun(target: string, argv: string[]): Promise<string> {
    const r = await runBounded(argv, 60_000, undefined, childEnv({}, { pass: DOCKER_VARS, env }));
    if (r.missing)
      throw ApplicationFailure.nonRetryable(
        `The docker CLI is not installed on this worker's host, and target "${target}" runs its app in a container. Run this step on a worker on the container's host (the target's taskQueue), or install docker (or podman-docker).`,
        FailureType.commandMissing,
      );
    if (r.exitCode !== 0) {
      if (ENGINE_DOWN.test(r.output)) {
        throw ApplicationFailure.nonRetryable(
          `No container engine answers the docker CLI on this worker's host (${trimOutput(r.output, 2, 300)}). Start Docker (or Podman's socket), or run this step on a worker on the container's host (the target's taskQueue). Nothing was changed.`,
          'ContainerEngineDown',
        );
      }
      throw ApplicationFailure.nonRetryable(
        `${argv.slice(0, 3).join(' ')} … exited with ${r.exitCode}: ${trimOutput(r.output, 5, 800)}`,
        FailureType.command,
      );
    }
    return r.output;
  }

  async function states(target: string, only?: string[]): Promise<{ container?: ContainerState; files: FileState[] }> {
    const app = appOf(target);
    const wanted = only?.length ? app.files.filter((f) => only.includes(f.path)) : app.files;
    let container: ContainerState | undefined;
    if (app.container) container = parseInspect(await dockerRun(target, docker.inspect(app.container.name)));
    const files: FileState[] = [];
    for (const f of wanted) {
      const sourceSha256 = await sha256File(f.source);
      if (app.container) {
        const abs = path.posix.join(app.container.workdir, f.path);
        const where = `${app.container.name}:${abs}`;
        const mount = mountOver(container!.mounts, abs);
        let sha256: string | undefined;
        if (container!.running) {
          const r = await runBounded(
            docker.sha256(app.container.name, abs),
            30_000,
            undefined,
            childEnv({}, { pass: DOCKER_VARS, env }),
          );
          sha256 = r.exitCode === 0 ? r.output.trim().split(/\s+/)[0] : undefined;
        }
        files.push({
          path: f.path,
          where,
          present: sha256 !== undefined,
          sha256,
          sourceSha256,
          sourceMissing: sourceSha256 === undefined,
          differs: sha256 !== undefined && sourceSha256 !== undefined && sha256 !== sourceSha256,
          hiddenBy: mount && `${mount.type} ${mount.source} → ${mount.destination}`,
        });
      } else {
        const where = path.join(app.dir!, f.path);
        const present = await stat(where).then(
          (s) => s.isFile(),
          () => false,
        );
        const sha256 = present ? await sha256File(where) : undefined;
        files.push({
          path: f.path,
          where,
          present,
          sha256,
          sourceSha256,
          sourceMissing: sourceSha256 === undefined,
          differs: present && sourceSha256 !== undefined && sha256 !== sourceSha256,
        });
      }
    }
    return { container, files };
  }

  return {
    /** Which of the app's declared files (or the ones named) are missing or differ from the good copy. */
    async appFilesCheck(
      target: string,
      only?: string[],
    ): Promise<{ container?: ContainerState; files: FileState[]; permanentFix: string }> {
      const s = await states(target, only);
      return { ...s, permanentFix: permanentFix(appOf(target), s.files) };
    },

    /** Copies the good copy of each named file in (docker cp, or a local copy), then checks it arrived intact. */
    async appFilesCopy(
      target: string,
      paths: string[],
    ): Promise<{ copied: Array<{ path: string; where: string; sha256: string }> }> {
      const app = appOf(target);
      const copied: Array<{ path: string; where: string; sha256: string }> = [];
      for (const p of paths) {
        const f = app.files.find((x) => x.path === p);
        if (!f)
          throw ApplicationFailure.nonRetryable(
            `"${p}" is not among app.files of target "${target}".`,
            FailureType.targetConfig,
          );
        const sha = await sha256File(f.source);
        if (!sha)
          throw ApplicationFailure.nonRetryable(
            `The good copy of ${p} is missing on this host (${f.source}): nothing was copied. Fix app.files[].source in ${targets.file}, or put the file there.`,
            'SourceFileMissing',
          );
        if (app.container) {
          const abs = path.posix.join(app.container.workdir, p);
          await dockerRun(target, docker.mkdir(app.container.name, path.posix.dirname(abs)));
          await dockerRun(target, docker.cp(f.source, app.container.name, abs));
          copied.push({ path: p, where: `${app.container.name}:${abs}`, sha256: sha });
        } else {
          const dest = path.join(app.dir!, p);
          await mkdir(path.dirname(dest), { recursive: true });
          await copyFile(f.source, dest);
          const got = await sha256File(dest);
          if (got !== sha)
            throw ApplicationFailure.nonRetryable(
              `Copied ${p} to ${dest} but its sha256 is ${got}, not ${sha}: check the disk and copy it by hand.`,
              FailureType.command,
            );
          copied.push({ path: p, where: dest, sha256: sha });
        }
      }
      return { copied };
    },
  };
}
