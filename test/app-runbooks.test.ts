import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiWithDevTokens } from './support/api.js';
import type { ConnectionRefusedFindings } from '../src/runbooks/connection-refused/workflow.js';
import type { MissingFileFindings } from '../src/runbooks/missing-container-file/workflow.js';
import type { ObservabilityFindings } from '../src/runbooks/observability-check/workflow.js';
import { finished, gateOpened, startRig, tmpDir, writeTargets, type TestRig } from './support/harness.js';
import { freePort } from './support/ports.js';
import { until } from './support/wait.js';
import { killWeb, startWeb, webAppService, webFiles } from './support/webapp.js';
import type { WorkerFiles } from './support/imports.js';

// connection-refused, observability-check and alerts that start runbooks, on the fixture's real
// FastAPI app under uvicorn (a local process driven by the command driver), over real HTTP.
describe('app runbooks', () => {
  let rig: TestRig;
  let api: FastifyInstance;
  let operator: string;
  const bob = { person: 'bob', roles: ['approver'] };
  const web: Record<string, { files: WorkerFiles; port: number }> = {};
  let compose: string;

  async function app(name: string) {
    const files = webFiles(tmpDir(`web-${name}-`));
    return (web[name] = { files, port: await freePort() });
  }
  const appTarget = (name: string, extra: Record<string, unknown> = {}) => {
    const w = web[name]!;
    return {
      app: { url: `http://127.0.0.1:${w.port}`, service: 'api', logFile: w.files.logFile, timeout: '2s' },
      services: { api: webAppService(w.files, { port: w.port }) },
      policy: { unsignedDecisions: 'allow' },
      ...extra,
    };
  };
  const ports = (port: number) => `services:\n  api:\n    image: gestiq-api\n    ports:\n      - "${port}:${port}"\n`;

  // missing-container-file: the app's directory lacks a template; the good copy is in the "repo".
  const appDir = tmpDir('app-dir-');
  const repo = tmpDir('repo-');
  const template = { path: 'templates/factura.html', source: path.join(repo, 'templates/factura.html') };

  beforeAll(async () => {
    for (const n of ['healthy', 'bare', 'down', 'storm', 'compose', 'files']) await app(n);
    mkdirSync(path.join(repo, 'templates'));
    writeFileSync(template.source, '<html>factura {{ numero }}</html>\n');
    const f = web.files!;
    compose = path.join(tmpDir('compose-'), 'docker-compose.yml');
    writeFileSync(compose, 'services:\n  api:\n    image: gestiq-api\n');
    const bare = web.bare!;
    const targets = writeTargets({
      'app-healthy': appTarget('healthy'),
      // No log source, and a metric the app does not expose.
      'app-bare': { app: { url: `http://127.0.0.1:${bare.port}`, timeout: '2s' } },
      'app-down': appTarget('down'),
      'app-storm': appTarget('storm', { alerts: { labels: { job: 'gestiq-api', env: 'storm' } } }),
      'app-compose': {
        ...appTarget('compose'),
        app: {
          url: `http://127.0.0.1:${web.compose!.port}`,
          service: 'api',
          compose: { file: compose, service: 'api' },
          timeout: '2s',
        },
      },
      'app-files': {
        app: {
          url: `http://127.0.0.1:${f.port}`,
          service: 'api',
          logFile: f.files.logFile,
          dir: appDir,
          files: [template],
          timeout: '2s',
        },
        services: { api: webAppService(f.files, { port: f.port, appDir, requiredFiles: [template.path] }) },
        policy: { unsignedDecisions: 'allow' },
      },
      'app-nosource': {
        app: {
          url: `http://127.0.0.1:${f.port}`,
          dir: tmpDir('app-dir2-'),
          files: [{ path: 'a.py', source: path.join(repo, 'nope.py') }],
        },
      },
      'app-docker': {
        app: { url: 'http://127.0.0.1:1', service: 'api', container: { name: 'gestiq-app-1' }, files: [template] },
        services: { api: { compose: { file: compose, service: 'api' } } },
      },
      'app-nodns': {
        app: { url: 'http://gestiq-api.invalid:8000', service: 'api', timeout: '2s' },
        services: { api: webAppService(web.down!.files, { port: web.down!.port }) },
      },
    });
    await startWeb(web.healthy!.files, { port: web.healthy!.port });
    await startWeb(bare.files, { port: bare.port, metricsOmit: ['gestiq_einvoice_latency_seconds'] });
    await startWeb(f.files, { port: f.port, appDir, requiredFiles: [template.path] });
    rig = await startRig(targets);
    const served = await apiWithDevTokens(rig.client);
    api = served.api;
    operator = served.tokens.alice;
  });
  afterAll(async () => {
    for (const w of Object.values(web)) await killWeb(w.files);
    await api?.close();
    await rig?.stop();
  });

  it("observability-check: ready, every key metric exposed, and a request id followed from the request into the app's log", async () => {
    const run = await finished(
      rig.client,
      (await rig.client.start('observability-check', { target: 'app-healthy', initiator: 'alice' })).id,
    );
    expect(run.status).toBe('completed');
    const r = run.result as { healthy: boolean; summary: string[]; findings: ObservabilityFindings };
    expect(r.healthy).toBe(true);
    expect(r.findings.ready.status).toBe(200);
    expect(r.findings.metrics.missing).toEqual([]);
    const trace = r.findings.requestId;
    expect(trace.echoed).toBe(true);
    expect(trace.line).toContain(`request_id=${trace.requestId} method=GET path=/ready status=200`);
    // The line is really in the app's own log.
    expect(readFileSync(web.healthy!.files.logFile, 'utf8')).toContain(`request_id=${trace.requestId}`);
    expect(r.findings.notChecked).toEqual([]);
  });

  it('observability-check: names the key metric the app does not expose, and says the logs could not be checked', async () => {
    const run = await finished(
      rig.client,
      (await rig.client.start('observability-check', { target: 'app-bare', initiator: 'alice' })).id,
    );
    const r = run.result as { healthy: boolean; summary: string[]; findings: ObservabilityFindings };
    expect(r.healthy).toBe(false);
    expect(r.findings.metrics.missing).toEqual(['gestiq_einvoice_latency_seconds']);
    expect(r.summary.join('\n')).toContain(
      'missing key metric(s): gestiq_einvoice_latency_seconds — alerts on them can never fire',
    );
    expect(r.findings.notChecked).toEqual([
      'request id in the logs: the target declares no log source (app.logFile, or a systemd/compose service): the logs were not checked',
    ]);
    expect(r.summary).toContain(
      'Not checked: request id in the logs: the target declares no log source (app.logFile, or a systemd/compose service): the logs were not checked.',
    );
  });

  it('connection-refused: a crashed app is found not running, restarted behind the gate, and answers again', async () => {
    const w = web.down!;
    await startWeb(w.files, { port: w.port });
    await killWeb(w.files);
    expect(
      await fetch(`http://127.0.0.1:${w.port}/ready`).then(
        () => 'answered',
        (e: Error & { cause?: { code?: string } }) => e.cause?.code,
      ),
    ).toBe('ECONNREFUSED');
    const id = (
      await rig.client.start('connection-refused', {
        target: 'app-down',
        initiator: 'alice',
        input: { retry: { initialInterval: '200 ms', maximumAttempts: 2 } },
      })
    ).id;
    await gateOpened(rig.client, id, 'force-recreate');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'force-recreate')!;
    expect(gate.prompt).toContain(`Cause: The app's service "api" is not running`);
    expect(gate.prompt).toContain('Plan: restart api through its command driver');
    await rig.client.decide(id, 'force-recreate', { decision: 'approve' }, bob);
    const run = await finished(rig.client, id);
    const r = run.result as { healthy: boolean; summary: string[]; findings: ConnectionRefusedFindings };
    expect(r.findings.outcome).toBe('fixed');
    expect(r.findings.probe.outcome).toBe('refused');
    expect(r.findings.after?.probe.outcome).toBe('open');
    expect(r.findings.recreate?.checks.map((c) => [c.check, c.ok])).toEqual([
      ['running', true],
      ['logLine', true],
      ['http', true],
    ]);
    expect((await fetch(`http://127.0.0.1:${w.port}/ready`)).status).toBe(200);
    expect(r.summary[0]).toMatch(
      /^Fixed: http:\/\/127\.0\.0\.1:\d+\/ answers again \(\/ready 200 in \d+ ms\) after restart api through its command driver\.$/,
    );
  });

  it('connection-refused: a healthy app is left alone; an unresolvable host is reported and nothing is touched', async () => {
    const ok = await finished(
      rig.client,
      (await rig.client.start('connection-refused', { target: 'app-healthy', initiator: 'alice' })).id,
    );
    expect((ok.result as { findings: ConnectionRefusedFindings }).findings.outcome).toBe('healthy');
    expect(ok.journal?.some((e) => e.step === 'lock-target')).toBe(false);

    const dns = await finished(
      rig.client,
      (await rig.client.start('connection-refused', { target: 'app-nodns', initiator: 'alice' })).id,
    );
    const r = dns.result as { healthy: boolean; summary: string[]; findings: ConnectionRefusedFindings };
    expect(r.findings.outcome).toBe('cannot-fix');
    expect(r.findings.probe.outcome).toBe('dns');
    expect(r.summary.at(-1)).toBe('Nothing was changed: the host name does not resolve.');
    expect(dns.journal?.some((e) => e.step === 'recreate')).toBe(false);
  });

  it('connection-refused: a compose file that does not publish the port is reported with the fix, and nothing is recreated while it stays wrong', async () => {
    const id = (await rig.client.start('connection-refused', { target: 'app-compose', initiator: 'alice' })).id;
    await gateOpened(rig.client, id, 'force-recreate');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'force-recreate')!;
    expect(gate.prompt).toContain('service "api" publishes no ports: nothing outside the container reaches port');
    expect(gate.prompt).toContain(`ports:\n      - "${web.compose!.port}:${web.compose!.port}"`);
    expect(gate.prompt).toContain('fix it BEFORE approving');
    await rig.client.decide(id, 'force-recreate', { decision: 'approve' }, bob);
    const r = (await finished(rig.client, id)).result as { summary: string[]; findings: ConnectionRefusedFindings };
    expect(r.findings.outcome).toBe('not-fixed');
    expect(r.summary[0]).toMatch(/^Not recreated: .*docker-compose\.yml still does not publish the port/);
    expect(r.findings.recreate).toBeUndefined();
    expect(readFileSync(compose, 'utf8')).not.toContain('ports:');

    // A malformed compose file: reported, nothing recreated, no gate.
    writeFileSync(compose, 'services:\n  api: [unclosed\n');
    const bad = (
      await finished(
        rig.client,
        (await rig.client.start('connection-refused', { target: 'app-compose', initiator: 'alice' })).id,
      )
    ).result as { summary: string[]; findings: ConnectionRefusedFindings };
    expect(bad.findings.outcome).toBe('cannot-fix');
    expect(bad.summary.at(-1)).toMatch(
      /^Nothing was changed: the compose file cannot be used \(.*docker-compose\.yml is not a usable compose file: not valid YAML/,
    );
    writeFileSync(compose, ports(web.compose!.port));
  });

  it("missing-container-file: the app's missing template is found, copied in behind the gate, the app restarted and ready", async () => {
    const dest = path.join(appDir, template.path);
    expect((await fetch(`http://127.0.0.1:${web.files!.port}/ready`)).status).toBe(503);
    const id = (await rig.client.start('missing-container-file', { target: 'app-files', initiator: 'alice' })).id;
    await gateOpened(rig.client, id, 'copy-in');
    const gate = (await rig.client.status(id)).pendingGates.find((g) => g.gate === 'copy-in')!;
    expect(gate.prompt).toContain(`templates/factura.html is missing at ${dest}`);
    expect(gate.prompt).toContain("This is a stopgap: Ship templates/factura.html with the app's deploy");
    expect(existsSync(dest)).toBe(false);
    await rig.client.decide(id, 'copy-in', { decision: 'approve' }, bob);
    const r = (await finished(rig.client, id)).result as {
      healthy: boolean;
      summary: string[];
      findings: MissingFileFindings;
    };
    expect(r.findings.outcome).toBe('fixed');
    expect(r.findings.ready.status).toBe(503);
    expect(r.findings.after?.ready.status).toBe(200);
    expect(readFileSync(dest, 'utf8')).toBe(readFileSync(template.source, 'utf8'));
    expect((await fetch(`http://127.0.0.1:${web.files!.port}/ready`)).status).toBe(200);
    expect(r.summary.at(-1)).toMatch(
      /^Permanent fix \(do it, or the next deploy loses the copy\): Ship templates\/factura\.html/,
    );

    // Run again: nothing to do.
    const again = (
      await finished(
        rig.client,
        (await rig.client.start('missing-container-file', { target: 'app-files', initiator: 'alice' })).id,
      )
    ).result as { findings: MissingFileFindings };
    expect(again.findings.outcome).toBe('healthy');
  });

  it('missing-container-file: no good copy, or no container engine: says so and changes nothing', async () => {
    const none = (
      await finished(
        rig.client,
        (await rig.client.start('missing-container-file', { target: 'app-nosource', initiator: 'alice' })).id,
      )
    ).result as { summary: string[]; findings: MissingFileFindings };
    expect(none.findings.outcome).toBe('cannot-fix');
    expect(none.summary.at(-1)).toBe(
      'Nothing was changed: the good copy is missing on this host for a.py (app.files[].source).',
    );

    const unknown = await rig.client.start('missing-container-file', {
      target: 'app-files',
      initiator: 'alice',
      input: { files: ['etc/passwd'] },
    });
    expect((await finished(rig.client, unknown.id)).error).toContain(
      'Not among app.files of target "app-files": etc/passwd (declared: templates/factura.html).',
    );

    // The docker CLI with no engine behind it (this machine): a clear error, nothing copied.
    const run = await finished(
      rig.client,
      (
        await rig.client.start('missing-container-file', {
          target: 'app-docker',
          initiator: 'alice',
          input: { retry: { maximumAttempts: 1 } },
        })
      ).id,
    );
    expect(run.status).toBe('failed');
    const hasDocker =
      (await import('execa')).execaSync('sh', ['-c', 'command -v docker'], { reject: false }).exitCode === 0;
    expect(run.error).toContain(
      hasDocker
        ? "No container engine answers the docker CLI on this worker's host"
        : "The docker CLI is not installed on this worker's host",
    );
    expect(run.journal?.some((e) => e.step === 'copy-files')).toBe(false);
  });

  it('alerts: a storm of one alert starts one run, and every alert is journaled on it; unknown labels start nothing', async () => {
    const alert = {
      status: 'firing',
      labels: { alertname: 'GestiqAppDown', job: 'gestiq-api', env: 'storm', instance: 'api:8000' },
      annotations: { summary: 'The API does not answer' },
      startsAt: new Date().toISOString(),
    };
    const post = (alerts: unknown[]) =>
      api.inject({
        method: 'POST',
        url: '/alerts/alertmanager',
        headers: { authorization: `Bearer ${operator}` },
        payload: { version: '4', status: 'firing', receiver: 'runbooks', alerts },
      });
    const replies = await Promise.all(Array.from({ length: 12 }, () => post([alert])));
    expect(replies.map((r) => r.statusCode)).toEqual(Array(12).fill(202));
    expect(replies[0]!.json()).toEqual({
      accepted: [
        {
          alertname: 'GestiqAppDown',
          status: 'firing',
          runbook: 'connection-refused',
          target: 'app-storm',
          intake: 'alerts-connection-refused-app-storm',
        },
      ],
      ignored: [],
    });

    let runs: Awaited<ReturnType<typeof rig.client.list>> = [];
    await until(
      async () => (runs = await rig.client.list({ target: 'app-storm' })).length > 0,
      'the run the alerts start',
    );
    const id = runs[0]!.id;
    await until(
      async () => ((await rig.client.status(id)).journal ?? []).filter((e) => e.kind === 'alert').length === 12,
      '12 alerts journaled on the run',
      30_000,
    );
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ runbook: 'connection-refused', initiator: 'alice' }); // the token's person, not the channel
    expect((await rig.client.list({ target: 'app-storm' })).map((r) => r.id)).toEqual([id]);

    const unknown = await post([
      { status: 'firing', labels: { alertname: 'DiskFull', instance: 'db:9100' } },
      { status: 'firing', labels: { alertname: 'GestiqAppDown', job: 'other' } },
    ]);
    expect(unknown.statusCode).toBe(202);
    expect(
      unknown.json<{ accepted: unknown[]; ignored: Array<{ alertname: string; reason: string }> }>(),
    ).toMatchObject({
      accepted: [],
      ignored: [
        {
          alertname: 'DiskFull',
          reason: expect.stringContaining(
            'no runbook for alert "DiskFull": give it the label runbook=<name>',
          ) as string,
        },
        {
          alertname: 'GestiqAppDown',
          reason: expect.stringContaining('no target for these labels: set the label runbook_target') as string,
        },
      ],
    });
    expect(await rig.client.list({ runbook: 'observability-check', target: 'app-storm' })).toEqual([]);
    await rig.client.abort(id, 'alice', 'test over');
    await finished(rig.client, id);
  });
});
