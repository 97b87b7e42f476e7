import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetRefs, revalidates } from '../src/activities/pwa.js';
import type { PwaFindings } from '../src/runbooks/pwa-stale-cache/workflow.js';
import { finished, gateOpened, startRig, tmpDir, writeTargets, type TestRig } from './support/harness.js';
import { serveStatic } from './support/static.js';

/** A Vite-like build: version.json, index.html referencing hashed assets under `base`, sw.js. */
function build(dir: string, version: string, base: string, hash: string) {
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'version.json'), JSON.stringify({ version }));
  writeFileSync(
    path.join(dir, 'index.html'),
    `<!doctype html><html><head><link rel="manifest" href="${base}manifest.webmanifest"><link rel="stylesheet" href="${base}assets/index-${hash}.css"><script type="module" src="${base}assets/index-${hash}.js"></script></head><body></body></html>`,
  );
  writeFileSync(path.join(dir, `assets/index-${hash}.js`), `console.log(${JSON.stringify(version)})`);
  writeFileSync(path.join(dir, `assets/index-${hash}.css`), 'body{}');
  writeFileSync(path.join(dir, 'manifest.webmanifest'), '{}');
  writeFileSync(path.join(dir, 'sw.js'), `self.VERSION=${JSON.stringify(version)}`);
}

describe('pwa-stale-cache helpers', () => {
  it('finds the assets an index.html references, and which Cache-Control values make browsers ask again', () => {
    expect(
      assetRefs(
        '<script type="module" crossorigin src="/t/assets/a.js"></script><link rel="modulepreload" href="/t/assets/b.js"><link rel="stylesheet" href="/t/a.css"><link rel="canonical" href="https://x"><img src="data:image/png;base64,AA">',
      ),
    ).toEqual(['/t/assets/a.js', '/t/assets/b.js', '/t/a.css']);
    expect(revalidates('no-cache')).toBe(true);
    expect(revalidates('public, max-age=0, must-revalidate')).toBe(true);
    expect(revalidates('public, max-age=31536000, immutable')).toBe(false);
    expect(revalidates(null)).toBe(false);
  });
});

describe('pwa-stale-cache', () => {
  let rig: TestRig;
  const servers: Array<{ close: () => Promise<void> }> = [];
  const bob = { person: 'bob', roles: ['approver'] };
  const root = tmpDir('pwa-');
  const dir = (n: string) => path.join(root, n);
  const noCache = () => 'no-cache';

  beforeAll(async () => {
    build(dir('stale-dist'), '1.0.0', '/tenant/', 'aaa111');
    build(dir('stale-build'), '1.1.0', '/tenant/', 'bbb222');
    build(dir('base-dist'), '1.1.0', '/', 'ccc333'); // built with VITE_BASE_PATH=/ but served under /tenant/
    build(dir('headers-dist'), '1.1.0', '/tenant/', 'ddd444');
    build(dir('fail-dist'), '1.0.0', '/tenant/', 'eee555');
    const stale = await serveStatic(dir('stale-dist'), '/tenant/', noCache);
    const base = await serveStatic(dir('base-dist'), '/tenant/', (f) =>
      f === 'index.html' ? 'public, max-age=3600' : 'no-cache',
    );
    const headers = await serveStatic(dir('headers-dist'), '/tenant/', (f) =>
      f === 'sw.js' ? 'max-age=86400' : f.startsWith('assets/') ? 'max-age=31536000, immutable' : 'no-cache',
    );
    const fail = await serveStatic(dir('fail-dist'), '/tenant/', noCache);
    servers.push(stale, base, headers, fail);
    const pwa = (url: string, redeploy?: string) => ({
      pwa: {
        url,
        basePath: '/tenant/',
        expectedVersion: '1.1.0',
        ...(redeploy ? { redeploy: { command: redeploy, timeout: '30s' } } : {}),
      },
      policy: { unsignedDecisions: 'allow' },
    });
    rig = await startRig(
      writeTargets({
        'pwa-stale': pwa(
          stale.url,
          `rm -rf '${dir('stale-dist')}'/* && cp -r '${dir('stale-build')}'/. '${dir('stale-dist')}'/ && echo deployed 1.1.0`,
        ),
        'pwa-base': pwa(base.url, 'true'),
        'pwa-headers': pwa(headers.url),
        'pwa-fail': pwa(fail.url, 'echo "vite: build failed: Cannot find module ./App.vue" >&2; exit 3'),
      }),
    );
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await rig?.stop();
  });

  it('a stale build is redeployed behind the gate, and the new version is then served with all its assets', async () => {
    const id = (
      await rig.client.start('pwa-stale-cache', {
        target: 'pwa-stale',
        initiator: 'alice',
        input: { verifyDeadline: '30s' },
      })
    ).id;
    await gateOpened(rig.client, id, 'redeploy');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'redeploy')!;
    expect(gate.prompt).toContain('Cause: stale-build: The build served is 1.0.0, not 1.1.0.');
    expect(JSON.parse(readFileSync(path.join(dir('stale-dist'), 'version.json'), 'utf8'))).toEqual({
      version: '1.0.0',
    });
    await rig.client.decide(id, 'redeploy', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    const r = run.result as { healthy: boolean; summary: string[]; findings: PwaFindings };
    expect(r.findings.outcome).toBe('fixed');
    expect(r.healthy).toBe(true);
    expect(r.findings.after?.version.value).toBe('1.1.0');
    expect(r.findings.after?.assets.map((a) => [a.ref, a.status])).toEqual([
      ['/tenant/assets/index-bbb222.js', 200],
      ['/tenant/manifest.webmanifest', 200],
      ['/tenant/assets/index-bbb222.css', 200],
    ]);
    expect(r.summary[0]).toBe(
      'Fixed: version 1.1.0 is served, with its 3 asset(s) under ' + r.findings.after!.base + '.',
    );
    expect(r.findings.redeploy?.output).toBe('deployed 1.1.0');
  });

  it('a build made with the wrong VITE_BASE_PATH and a cacheable index.html are named (dry run: nothing runs)', async () => {
    const r = (
      await finished(
        rig.client,
        (await rig.client.start('pwa-stale-cache', { target: 'pwa-base', initiator: 'alice', dryRun: true })).id,
      )
    ).result as { summary: string[]; findings: PwaFindings };
    expect(r.findings.outcome).toBe('dry-run');
    expect(r.findings.causes.map((c) => c.cause)).toEqual(['wrong-base-path', 'cached-index']);
    expect(r.findings.causes[0]!.detail).toBe(
      'index.html references /assets/index-ccc333.js, /manifest.webmanifest, /assets/index-ccc333.css, outside /tenant/: the build was made with another VITE_BASE_PATH.',
    );
    expect(r.findings.causes[1]!.detail).toContain('index.html is served with Cache-Control: public, max-age=3600');
  });

  it("only header problems: reported for the web server's owner, nothing redeployed, no gate", async () => {
    const run = await finished(
      rig.client,
      (await rig.client.start('pwa-stale-cache', { target: 'pwa-headers', initiator: 'alice' })).id,
    );
    const r = run.result as { summary: string[]; findings: PwaFindings };
    expect(r.findings.outcome).toBe('findings-only');
    expect(r.findings.causes.map((c) => c.cause)).toEqual(['cached-service-worker']);
    expect(r.findings.remaining[0]).toContain('sw.js is served with Cache-Control: max-age=86400');
    expect(run.journal?.some((e) => e.kind === 'gate')).toBe(false);
  });

  it('a failing redeploy command fails the run with its output, and the served build is untouched', async () => {
    const id = (await rig.client.start('pwa-stale-cache', { target: 'pwa-fail', initiator: 'alice' })).id;
    await gateOpened(rig.client, id, 'redeploy');
    await rig.client.decide(id, 'redeploy', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    expect(run.status).toBe('failed');
    expect(run.error).toContain(
      'The redeploy command of target "pwa-fail" exited with 3: the build served was not replaced by this run.',
    );
    expect(run.error).toContain('vite: build failed: Cannot find module ./App.vue');
    expect(JSON.parse(readFileSync(path.join(dir('fail-dist'), 'version.json'), 'utf8'))).toEqual({ version: '1.0.0' });
  });
});
