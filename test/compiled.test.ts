import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sha256 } from '../src/api/auth.js';
import type { RunView } from '../src/client.js';
import type { PwaFindings } from '../src/runbooks/pwa-stale-cache/workflow.js';
import { repoRoot, tmpDir, uniqueName, writeTargets } from './support/harness.js';
import { freePort } from './support/ports.js';
import { registerSecrets, testLogDir } from './support/secrets.js';
import { serveStatic } from './support/static.js';
import { until } from './support/wait.js';

/**
 * `npm run build` run with plain node, laid out as the Dockerfile's runtime stage lays it out:
 * package.json, production dependencies only (no tsx, no TypeScript), bin/ and dist/ — no src/.
 * The directory is a temporary one, so the build does not race with anyone's dist/.
 */
function productionLayout(root: string): void {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const dev = new Set(Object.keys(pkg.devDependencies));
  const from = path.join(repoRoot, 'node_modules');
  const to = path.join(root, 'node_modules');
  for (const name of readdirSync(from)) {
    if (name.startsWith('.')) continue;
    if (!name.startsWith('@')) {
      if (!dev.has(name)) symlinkSync(path.join(from, name), path.join(to, name));
      continue;
    }
    for (const sub of readdirSync(path.join(from, name)).filter((s) => !dev.has(`${name}/${s}`))) {
      mkdirSync(path.join(to, name), { recursive: true });
      symlinkSync(path.join(from, name, sub), path.join(to, name, sub));
    }
  }
  cpSync(path.join(repoRoot, 'package.json'), path.join(root, 'package.json'));
  cpSync(path.join(repoRoot, 'bin'), path.join(root, 'bin'), { recursive: true });
}

/** A Vite-like build of `version`: version.json, an index.html with one hashed asset, a service worker. */
function pwaBuild(dir: string, version: string) {
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'version.json'), JSON.stringify({ version }));
  writeFileSync(
    path.join(dir, 'index.html'),
    `<!doctype html><script type="module" src="/app/assets/index-${version}.js"></script>`,
  );
  writeFileSync(path.join(dir, `assets/index-${version}.js`), `console.log(${JSON.stringify(version)})`);
  writeFileSync(path.join(dir, 'sw.js'), `self.VERSION=${JSON.stringify(version)}`);
}

/** How a process was started: its command line and NODE_OPTIONS, where a tsx loader would have to be named. */
function startedWith(pid: number): string {
  const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  return [readFileSync(`/proc/${pid}/cmdline`, 'latin1'), ...environ.filter((v) => v.startsWith('NODE_OPTIONS='))].join(
    ' ',
  );
}

describe('the compiled build (npm run build), laid out as the image runs it', () => {
  const root = tmpDir('runbooks-dist-');
  const dist = path.join(root, 'dist');
  const procs: ResultPromise[] = [];

  beforeAll(async () => {
    mkdirSync(path.join(root, 'node_modules'));
    productionLayout(root);
    await execa('node', ['--import', 'tsx', 'scripts/build.ts', '--out-dir', dist], { cwd: repoRoot });
  }, 180_000);

  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.allSettled(procs);
    rmSync(root, { recursive: true, force: true });
  });

  it('holds every file the code reads beside itself, and the workflow bundles', () => {
    const assets = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter((f) => /\.(py|html|css|cjs)$|^console\/.*\.js$/.test(f))
        .sort();
    expect(assets(dist)).toEqual(assets(path.join(repoRoot, 'src')));
    expect(readFileSync(path.join(dist, 'workflow-bundle.encrypted.js'), 'utf8')).toContain('failure-converter.cjs');
    expect(readFileSync(path.join(dist, 'workflow-bundle.js'), 'utf8')).not.toContain('failure-converter.cjs');
    // Tracing's workflow interceptors, engaged by a traced start (README, "Traces"), in both.
    for (const bundle of ['workflow-bundle.js', 'workflow-bundle.encrypted.js']) {
      const code = readFileSync(path.join(dist, bundle), 'utf8');
      expect(code).toContain('workflows/tracing-interceptors.cjs');
      // compactBundle (scripts/build.ts): one byte a character in the worker's memory, and a source map that
      // still names our sources (for stack traces) without carrying their text.
      expect(/[\u0080-\uffff]/.test(code), `${bundle} has a character beyond ASCII`).toBe(false);
      const map = JSON.parse(Buffer.from(code.slice(code.lastIndexOf('base64,') + 7), 'base64').toString()) as {
        sources: string[];
        sourcesContent?: string[];
      };
      expect(map.sources.some((s) => s.endsWith('runbooks/approval-drill/workflow.js'))).toBe(true);
      expect(map.sourcesContent).toBeUndefined();
    }
    expect(existsSync(path.join(root, 'node_modules/tsx'))).toBe(false);
  });

  it("replays a traced run on both bundles: a traced start loads OpenTelemetry's workflow code inside them", async () => {
    // The interceptors require() it only for a traced run; a require webpack left unbundled would fail here ("require is not defined").
    const history = JSON.parse(
      readFileSync(path.join(repoRoot, 'test/histories/approval-drill-traced.json'), 'utf8'),
    ) as Parameters<typeof Worker.runReplayHistory>[1];
    for (const bundle of ['workflow-bundle.js', 'workflow-bundle.encrypted.js']) {
      await expect(
        Worker.runReplayHistory({ workflowBundle: { codePath: path.join(dist, bundle) } }, history),
        bundle,
      ).resolves.toBeUndefined();
    }
  });

  it('runs a gated runbook end to end: started and approved with the compiled CLI through the compiled API (which holds no target credential), run by the compiled worker, none of them with tsx', async () => {
    const site = tmpDir('pwa-');
    pwaBuild(path.join(site, 'served'), '1.0.0');
    pwaBuild(path.join(site, 'new'), '1.1.0');
    const web = await serveStatic(path.join(site, 'served'), '/app/', () => 'no-cache');
    try {
      const target = uniqueName('dist').replace(/_/g, '-');
      const targets = writeTargets({
        [target]: {
          pwa: {
            url: web.url,
            basePath: '/app/',
            expectedVersion: '1.1.0',
            redeploy: {
              command: `cp -r '${path.join(site, 'new')}'/. '${path.join(site, 'served')}'/`,
              timeout: '30s',
            },
          },
          policy: { unsignedDecisions: 'allow' },
          // A credential only the worker holds: the API starts runs on the target knowing its name only.
          postgres: { host: '127.0.0.1', database: 'test', user: 'postgres', passwordEnv: 'DIST_DB_PASSWORD' },
        },
      });
      const dbPassword = `pw-${uniqueName('dist')}`;
      registerSecrets('dist target password', dbPassword);
      const tokens = { alice: `alice-${uniqueName('t')}`, bob: `bob-${uniqueName('t')}` };
      registerSecrets('API token', tokens.alice, tokens.bob);
      const tokensFile = path.join(root, 'api-tokens.json');
      writeFileSync(
        tokensFile,
        JSON.stringify({
          people: [
            { name: 'alice', roles: ['operator'], tokenSha256: sha256(tokens.alice) },
            { name: 'bob', roles: ['approver'], tokenSha256: sha256(tokens.bob) },
          ],
        }),
      );
      const port = await freePort();
      const api = `http://127.0.0.1:${port}`;
      // The same variables as `npm run worker` / `npm run api`; NODE_OPTIONS cleared so nothing can slip a loader in.
      const env = {
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        RUNBOOK_TASK_QUEUE: uniqueName('dist'),
        RUNBOOK_TARGETS: targets,
        RUNBOOK_DATA_DIR: tmpDir('dist-data-'),
        LOG_LEVEL: 'warn' as const,
        NODE_OPTIONS: '',
        RUNBOOK_WORKFLOW_BUNDLE: '',
      };
      const start = async (script: string, extra: Record<string, string>, ready: string) => {
        const proc = execa('node', [path.join(dist, script)], {
          cwd: root,
          env: { ...env, ...extra },
          all: true,
          reject: false,
        });
        procs.push(proc);
        let out = '';
        // Its output in the run's log dir too, for the secret scan (the worker's holds a target's password).
        const logs = testLogDir();
        proc.all?.on('data', (d: Buffer) => {
          out += d.toString();
          if (logs) appendFileSync(path.join(logs, `compiled-${script.replace(/\W/g, '-')}-${process.pid}.log`), d);
        });
        await until(() => out.includes(ready) || proc.exitCode !== null, `${script} to start`, 60_000);
        expect(out).toContain(ready);
        return { proc, out: () => out };
      };
      const [worker, apiProc] = await Promise.all([
        start('worker.js', { DIST_DB_PASSWORD: dbPassword }, 'Worker polling task queue'),
        start('api/main.js', { RUNBOOK_API_TOKENS: tokensFile, RUNBOOK_API_PORT: String(port) }, 'API on'),
      ]);
      // The prebuilt bundle, not one made at start from the workflows' source.
      expect(worker.out()).toContain(`workflows: ${path.join(dist, 'workflow-bundle.js')}`);
      for (const p of [worker.proc, apiProc.proc]) expect(startedWith(p.pid!)).not.toContain('tsx');

      const page = await fetch(`${api}/console/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('console.js');

      const cli = (as: 'alice' | 'bob', ...args: string[]) =>
        execa('node', [path.join(root, 'bin/runbook.js'), ...args, '--json'], {
          cwd: root,
          env: { RUNBOOK_API: api, RUNBOOK_TOKEN: tokens[as], NODE_OPTIONS: '' },
        });
      const { id } = JSON.parse((await cli('alice', 'start', 'pwa-stale-cache', '--target', target)).stdout) as {
        id: string;
      };
      const run = () =>
        fetch(`${api}/runs/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${tokens.alice}` } }).then(
          (r) => r.json() as Promise<RunView>,
        );
      await until(
        async () => (await run()).pendingGates.some((g) => g.gate === 'redeploy'),
        'the redeploy gate to open',
        30_000,
      );
      await cli('bob', 'approve', id, 'redeploy', '--comment', 'compiled build');
      await until(async () => !['running', 'waiting'].includes((await run()).status), 'the run to end', 30_000);
      const done = await run();
      expect(done.status).toBe('completed');
      const result = done.result as { healthy: boolean; findings: PwaFindings };
      expect(result.findings.outcome).toBe('fixed');
      expect(result.findings.after?.version.value).toBe('1.1.0');
    } finally {
      await web.close();
    }
  });
});
