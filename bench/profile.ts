/**
 * Where the worker's time and memory go, ours against bare Temporal (issue #21), from a CPU profile
 * and heap statistics taken by the script, not by hand:
 *   npx tsx bench/profile.ts [--runs 150] [--clients 20] [--dist DIR] [--bundle FILE] [--no-snapshots]
 * For each side (ours: the compiled worker, bench/worker-dist.js, its runs started through the HTTP
 * API in this process, as bench/approvals.ts does; bare: bench/bare/, started with the Temporal client),
 * a fresh worker process preloaded with bench/profile-hook.cjs, which reaches every thread:
 *   1. idle, 2 s after ready: RSS, then each thread's heap after a full GC, by space, and a heap snapshot;
 *   2. --runs starts from --clients clients, the V8 sampling profiler on in every worker thread and
 *      in this process (the API), until every run is parked (ours at its gate, bare at its first activity);
 *   3. parked, 3 s later: RSS, heaps and snapshots again.
 * --bundle FILE runs ours with another workflow bundle (the default is dist's plain one).
 * Prints Markdown: self time grouped by package or module (workflow bundle code by its webpack
 * module), the top functions, heap by space per thread (idle, per parked run) and the constructors
 * that grow per parked run. Profiles and snapshots stay in .data/profile-<time>/ (open them in Chrome DevTools).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { execa, type ResultPromise } from 'execa';
import { stringify } from 'yaml';
import { ensureDevTokens, TokenStore } from '../src/api/auth.js';
import { buildApi } from '../src/api/server.js';
import { RunbookClient } from '../src/client.js';
import { startDevServer } from '../src/temporal/devserver.js';
import { TargetRegistry } from '../src/targets.js';
import { resolveTemporalCli } from '../src/temporal/cli.js';
import { allAtGate, compiledBuild, pool, rssOf, sleep } from './harness.js';
import { log } from './stats.js';
import { writeBareBundle } from './bare/bundle.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '150' },
    clients: { type: 'string', default: '20' },
    dist: { type: 'string' },
    bundle: { type: 'string' },
    'no-snapshots': { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const clients = Number(values.clients);
const snapshots = !values['no-snapshots'];
const repo = path.resolve(import.meta.dirname, '..');
const out = path.join(repo, '.data', `profile-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(out, { recursive: true });

Runtime.install({ logger: new DefaultLogger('ERROR') });
const load0 = os.loadavg();
const dist = values.dist ? path.resolve(values.dist) : await compiledBuild(path.join(out, 'build'));
const oursBundle = values.bundle ? path.resolve(values.bundle) : path.join(dist, 'workflow-bundle.js');
const targetsFile = path.join(out, 'targets.yaml');
writeFileSync(
  targetsFile,
  stringify({
    targets: { bench: { policy: { unsignedStarts: 'allow', unsignedDecisions: 'allow', deadline: '2h' } } },
  }),
);
const targets = TargetRegistry.load(targetsFile);
const bareBundle = await writeBareBundle(out);
const server = await startDevServer({
  cli: await resolveTemporalCli(),
  port: 17900 + Math.floor(Math.random() * 90),
  headless: true,
});
const connection = await Connection.connect({ address: server.address });
const temporal = new Client({ connection });
const dev = ensureDevTokens(out);
const token = (JSON.parse(readFileSync(dev.plainFile, 'utf8')) as { alice: string }).alice;

interface HeapAnswer {
  thread: string;
  used: number;
  committed: number;
  external: number;
  contexts: number;
  spaces: Record<string, number>;
  file?: string;
}
interface Phase {
  rssMb: number;
  heaps: HeapAnswer[];
}
interface SideProfile {
  idle: Phase;
  parked: Phase;
  startsPerS: number;
  /** Thread name → .cpuprofile file; "api" for this process (ours only). */
  cpu: Record<string, string>;
}

/** A worker process with the profile hook; `command` sends one line and resolves with every thread's answer. */
function hookedWorker(script: string[], onLine: (line: string) => void = () => undefined) {
  const child: ResultPromise = execa(
    'node',
    ['--expose-gc', '--require', path.join(import.meta.dirname, 'profile-hook.cjs'), ...script],
    { reject: false, buffer: false, stdin: 'pipe', env: { PROFILE_DIR: out } },
  );
  let ready = false;
  let answer: ((a: unknown[]) => void) | undefined;
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines.map((l) => l.trim())) {
      if (line === 'ready') ready = true;
      else if (line.startsWith('profile ')) answer?.((JSON.parse(line.slice(8)) as { answers: unknown[] }).answers);
      else onLine(line);
    }
  });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[worker] ${d.toString()}`));
  return {
    pid: child.pid!,
    async ready() {
      while (!ready) {
        if (child.exitCode !== null) throw new Error(`worker process exited (${child.exitCode})`);
        await sleep(100);
      }
    },
    command<T>(line: string): Promise<T[]> {
      return new Promise((resolve) => {
        answer = (a) => resolve(a as T[]);
        child.stdin!.write(`${line}\n`);
      });
    },
    async stop() {
      child.kill('SIGKILL');
      await child;
    },
  };
}

async function phase(w: ReturnType<typeof hookedWorker>, tag: string): Promise<Phase> {
  const rssMb = rssOf(w.pid); // before the snapshots, which allocate
  const heaps = await w.command<HeapAnswer>(`heap ${tag}${snapshots ? ' snap' : ''}`);
  return { rssMb, heaps };
}

async function side(name: 'ours' | 'bare'): Promise<SideProfile> {
  const taskQueue = `profile-${name}-${Date.now()}`;
  const cache = String(Math.max(500, runs));
  let firsts = 0;
  const w =
    name === 'ours'
      ? hookedWorker([
          path.join(import.meta.dirname, 'worker-dist.js'),
          dist,
          server.address,
          taskQueue,
          targetsFile,
          cache,
          '0',
          ...(values.bundle ? [oursBundle] : []),
        ])
      : hookedWorker(
          [path.join(import.meta.dirname, 'bare', 'worker.js'), server.address, taskQueue, bareBundle, cache],
          (line) => {
            if (line === 'first') firsts++;
          },
        );
  try {
    await w.ready();
    await sleep(2000);
    const idle = await phase(w, `${name}-idle`);
    log(`${name}: idle ${idle.rssMb.toFixed(0)} MB; ${runs} starts under the profiler`);
    const client = new RunbookClient(temporal, {
      taskQueue,
      namespace: 'default',
      uiUrl: 'http://localhost:8233',
      targets: () => targets,
    });
    const api =
      name === 'ours' ? await buildApi({ client, tokens: TokenStore.load(dev.tokensFile), rateLimit: 1e6 }) : undefined;
    await api?.listen({ host: '127.0.0.1', port: 0 });
    const base = api && `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;
    const self = new Session();
    self.connect();
    await self.post('Profiler.enable');
    await self.post('Profiler.setSamplingInterval', { interval: 500 });
    await w.command('cpu-start');
    await self.post('Profiler.start');
    const t0 = performance.now();
    await pool(Array.from({ length: runs }), clients, async (_, i) => {
      if (base) {
        const res = await fetch(`${base}/runbooks/approval-drill/runs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ target: 'bench' }),
        });
        if (res.status !== 201) throw new Error(`start answered ${res.status}: ${await res.text()}`);
      } else await temporal.workflow.start('bareApproval', { workflowId: `${taskQueue}-${i}`, taskQueue });
    });
    if (name === 'ours') await allAtGate(client, taskQueue, runs);
    else while (firsts < runs) await sleep(20);
    const startsPerS = runs / ((performance.now() - t0) / 1000);
    const { profile } = await self.post('Profiler.stop');
    self.disconnect();
    const cpu: Record<string, string> = {};
    for (const a of await w.command<{ thread: string; file: string }>(`cpu-stop ${name}-starts`))
      cpu[a.thread] = a.file;
    if (api) {
      cpu.api = path.join(out, `${name}-starts-api.cpuprofile`);
      writeFileSync(cpu.api, JSON.stringify(profile));
      await api.close();
    }
    await sleep(3000);
    const parked = await phase(w, `${name}-parked`);
    log(`${name}: ${startsPerS.toFixed(1)} starts/s; parked ${parked.rssMb.toFixed(0)} MB`);
    return { idle, parked, startsPerS, cpu };
  } finally {
    await w.stop();
  }
}

// ---- analysis ----

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}

const bundleIndex = new Map<string, Array<[number, string]>>();
/** A workflow bundle's webpack modules by first line (0-based), to name the module a line of the bundle is in. */
function modulesOf(file: string): Array<[number, string]> {
  let index = bundleIndex.get(file);
  if (!index) {
    index = [];
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const m = /^\/\*\*\*\/ "([^"]+)"/.exec(line);
        if (m) index!.push([i, m[1]!]);
      });
    bundleIndex.set(file, index);
  }
  return index;
}

/** The package (node_modules/<name>) or our directory a source path belongs to. */
function packageOf(p: string): string {
  const nm = /.*node_modules\/(@[^/]+\/[^/]+|[^/]+)/.exec(p);
  if (nm) return nm[1]!;
  const ours = /(?:^|\/)(dist|src|bench)\/(.*)$/.exec(p);
  if (ours) {
    const parts = ours[2]!.split('/');
    return `ours: ${ours[1]}/${parts.length > 1 ? `${parts[0]}/` : parts[0]}`;
  }
  return path.basename(p);
}

function groupOf(frame: CpuNode['callFrame']): string {
  const { url, functionName, lineNumber } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(V8 builtins / native)';
  if (url.startsWith('node:')) return 'node (built-in modules)';
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  if (/(workflow-bundle[^/]*|bare-bundle)\.js$/.test(file)) {
    const mods = modulesOf(file);
    let mod = '(bundle runtime)';
    for (const [start, name] of mods) if (start <= lineNumber) mod = name;
    return `workflow bundle: ${packageOf(mod)}`;
  }
  return packageOf(file);
}

function selfTimes(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    total += us;
    const g = groupOf(frame);
    groups.set(g, (groups.get(g) ?? 0) + us);
    const where = frame.url ? `${path.basename(frame.url)}:${frame.lineNumber + 1}` : '';
    const fn = `\`${frame.functionName || '(anonymous)'}\` ${where} (${g})`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
  }
  return { total, groups, fns };
}

const ms = (us: number) => (us / 1000).toFixed(0);
const pct = (x: number, total: number) => `${((100 * x) / total).toFixed(1)} %`;
const mb = (b: number, d = 1) => (b / 2 ** 20).toFixed(d);
const top = <K>(m: Map<K, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);

const largest = new Map<string, Array<[number, string]>>();
/** Self size and count by constructor (objects), or by kind in parentheses (strings, code, arrays…), of a heap snapshot; its largest strings into `largest`. */
function heapByConstructor(file: string): Map<string, { size: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt!]!]!;
    const key =
      type === 'object' || type === 'native' ? snap.strings[snap.nodes[i + nameAt!]!]!.slice(0, 60) : `(${type})`;
    const big = snap.nodes[i + sizeAt!]! > 2 ** 20;
    if (big && (type === 'string' || key === 'system / JSArrayBufferData')) {
      const text = type === 'string' ? snap.strings[snap.nodes[i + nameAt!]!]!.slice(0, 40).replace(/\s+/g, ' ') : key;
      largest.set(file, [...(largest.get(file) ?? []), [snap.nodes[i + sizeAt!]!, text]]);
    }
    const e = out.get(key) ?? { size: 0, count: 0 };
    e.size += snap.nodes[i + sizeAt!]!;
    e.count++;
    out.set(key, e);
  }
  return out;
}

const results: Record<'ours' | 'bare', SideProfile> = { ours: await side('ours'), bare: await side('bare') };
const load1 = os.loadavg();
await connection.close();
await server.stop();

const lines: string[] = [];
const say = (...l: string[]) => lines.push(...l);
say(
  `### Profile of the worker, ours against bare (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version})`,
  '',
  `Command: \`npx tsx bench/profile.ts --runs ${runs} --clients ${clients}${values.dist ? ' --dist …' : ''}${values.bundle ? ` --bundle ${path.basename(oursBundle)}` : ''}${snapshots ? '' : ' --no-snapshots'}\`. Ours: the compiled worker with ${path.basename(oursBundle)}; bare: bench/bare/. Load average (1/5/15 min) at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}. Profiles and snapshots: ${path.relative(repo, out)}/.`,
  '',
  `Starts under the profiler: ours ${results.ours.startsPerS.toFixed(1)}/s (API, counted at the gate), bare ${results.bare.startsPerS.toFixed(1)}/s (client, counted at its first activity).`,
  '',
);

say(
  '**CPU self time during the starts, by package or module** (ms, share of the thread\'s samples; "(idle)" is waiting)',
  '',
);
for (const s of ['ours', 'bare'] as const) {
  for (const [thread, file] of Object.entries(results[s].cpu)) {
    const { total, groups, fns } = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
    const busy = total - (groups.get('(idle)') ?? 0);
    say(
      `- ${s}, ${thread === 'api' ? 'API process (this bench: fastify, the client)' : `worker ${thread} thread`}: ${ms(busy)} ms busy of ${ms(total)} ms (${pct(busy, total)})`,
    );
    say(
      `  - by group: ${top(groups, 10)
        .filter(([g]) => g !== '(idle)')
        .map(([g, us]) => `${g} ${ms(us)} (${pct(us, total)})`)
        .join('; ')}`,
    );
    say(
      `  - top functions: ${top(fns, 8)
        .filter(([f]) => !f.startsWith('`(idle)'))
        .map(([f, us]) => `${f} ${ms(us)}`)
        .join('; ')}`,
    );
  }
}

say('', '**Memory** (RSS from /proc; heaps after a full GC, each thread its own V8 isolate)', '');
say('| | ours idle | bare idle | ours per parked run | bare per parked run |', '|---|---|---|---|---|');
const perRun = (p: SideProfile, get: (ph: Phase) => number) => (get(p.parked) - get(p.idle)) / runs;
const heapOf = (ph: Phase, thread: string) => ph.heaps.find((h) => h.thread === thread);
const row = (label: string, get: (ph: Phase) => number, perRunToo = true) =>
  say(
    `| ${label} | ${mb(get(results.ours.idle))} MB | ${mb(get(results.bare.idle))} MB | ${perRunToo ? `${mb(perRun(results.ours, get), 3)} MB` : '—'} | ${perRunToo ? `${mb(perRun(results.bare, get), 3)} MB` : '—'} |`,
  );
// A heap snapshot leaves the process larger: with snapshots, RSS per parked run is bench/approvals.ts's figure, not this one's.
row('RSS', (ph) => ph.rssMb * 2 ** 20, !snapshots);
const threads = [...new Set(results.ours.idle.heaps.map((h) => h.thread))];
for (const thread of threads) {
  row(`${thread} thread: heap used`, (ph) => heapOf(ph, thread)?.used ?? NaN);
  row(`${thread} thread: heap committed`, (ph) => heapOf(ph, thread)?.committed ?? NaN);
  row(`${thread} thread: external (buffers, wasm)`, (ph) => heapOf(ph, thread)?.external ?? NaN);
  for (const space of Object.keys(results.ours.idle.heaps.find((h) => h.thread === thread)!.spaces)) {
    const get = (ph: Phase) => heapOf(ph, thread)?.spaces[space] ?? NaN;
    if (Math.max(get(results.ours.idle), get(results.ours.parked), get(results.bare.parked)) > 2 ** 20)
      row(`${thread}: ${space}`, get);
  }
}
const allHeaps = (ph: Phase) => ph.heaps.reduce((a, h) => a + h.committed + h.external, 0);
row('RSS outside the V8 heaps (RSS − committed − external)', (ph) => ph.rssMb * 2 ** 20 - allHeaps(ph), !snapshots);

if (snapshots) {
  for (const thread of threads) {
    const snap = (s: 'ours' | 'bare', p: 'idle' | 'parked') => {
      const f = heapOf(results[s][p], thread)?.file;
      return f ? heapByConstructor(f) : new Map<string, { size: number; count: number }>();
    };
    const [oi, op, bi, bp] = [
      snap('ours', 'idle'),
      snap('ours', 'parked'),
      snap('bare', 'idle'),
      snap('bare', 'parked'),
    ];
    const growth = (i: typeof oi, p: typeof oi) =>
      new Map([...p].map(([k, v]) => [k, (v.size - (i.get(k)?.size ?? 0)) / runs]));
    const og = growth(oi, op);
    const bg = growth(bi, bp);
    say(
      '',
      `**${thread} thread, heap snapshot: what grows per parked run** (self size per run, KB; ours ${(
        [...og.values()].reduce((a, b) => a + b, 0) / 1024
      ).toFixed(0)} KB, bare ${([...bg.values()].reduce((a, b) => a + b, 0) / 1024).toFixed(0)} KB)`,
      '',
      '| constructor or kind | ours | bare | ours − bare |',
      '|---|---|---|---|',
    );
    const keys = new Set([...og.keys(), ...bg.keys()]);
    const diff = new Map([...keys].map((k) => [k, (og.get(k) ?? 0) - (bg.get(k) ?? 0)]));
    for (const [k] of top(new Map([...og].map(([k, v]) => [k, Math.abs(v) + Math.abs(diff.get(k)!)])), 12))
      say(
        `| ${k} | ${((og.get(k) ?? 0) / 1024).toFixed(1)} | ${((bg.get(k) ?? 0) / 1024).toFixed(1)} | ${(diff.get(k)! / 1024).toFixed(1)} |`,
      );
    const idleDiff = new Map(
      [...new Set([...oi.keys(), ...bi.keys()])].map((k) => [k, (oi.get(k)?.size ?? 0) - (bi.get(k)?.size ?? 0)]),
    );
    const big = (s: 'ours' | 'bare', p: 'idle' | 'parked') =>
      (largest.get(heapOf(results[s][p], thread)?.file ?? '') ?? [])
        .map(([b, text]) => `${mb(b, 2)} MB \`${text.replace(/`/g, "'")}…\``)
        .join(', ') || 'none';
    say(
      '',
      `${thread} thread, strings and buffers over 1 MB: idle, ours ${big('ours', 'idle')}; bare ${big('bare', 'idle')}. Parked, ours ${big('ours', 'parked')}; bare ${big('bare', 'parked')}.`,
      '',
      `${thread} thread idle, ours − bare by constructor or kind (MB): ${top(idleDiff, 10)
        .map(([k, b]) => `${k} ${mb(b, 2)}`)
        .join('; ')}`,
    );
  }
}
console.log(lines.join('\n'));
