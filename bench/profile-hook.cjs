'use strict';
/**
 * Preloaded by bench/profile.ts into a worker process (`node --expose-gc --require bench/profile-hook.cjs …`):
 * node runs a --require module in every thread, so the Temporal worker's workflow thread gets it too.
 * The bench writes commands on the process's stdin, one a line; the main thread passes each to
 * every thread (BroadcastChannel), runs it itself, and prints `profile <json>` with all threads' answers:
 *   cpu-start            start the V8 sampling profiler in every thread
 *   cpu-stop <tag>       stop it; each thread writes <dir>/<tag>-<thread>.cpuprofile
 *   heap <tag> [snap]    full GC, heap statistics by space; with "snap", <dir>/<tag>-<thread>.heapsnapshot
 * <dir> is $PROFILE_DIR. A thread is named "main", "workflow" (the SDK's workflow-worker-thread) or "thread-<id>".
 */
const { isMainThread, threadId } = require('node:worker_threads');
const inspector = require('node:inspector');
const path = require('node:path');
const v8 = require('node:v8');
const { writeFileSync } = require('node:fs');

const dir = process.env.PROFILE_DIR;
const channel = new BroadcastChannel('durable-runbooks-profile');
channel.unref();
let session;

function threadName() {
  if (isMainThread) return 'main';
  const workflow = Object.keys(require.cache).some((f) => f.endsWith('workflow-worker-thread.js'));
  return workflow ? 'workflow' : `thread-${threadId}`;
}

function post(method, params) {
  return new Promise((resolve, reject) =>
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
  );
}

async function run(cmd, tag, opt) {
  const name = threadName();
  if (cmd === 'cpu-start') {
    session ??= new inspector.Session();
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 500 });
    await post('Profiler.start');
    return { thread: name };
  }
  if (cmd === 'cpu-stop') {
    const { profile } = await post('Profiler.stop');
    session.disconnect();
    const file = path.join(dir, `${tag}-${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return { thread: name, file };
  }
  if (cmd === 'heap') {
    globalThis.gc?.();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
    const stats = v8.getHeapStatistics();
    const file = opt === 'snap' ? v8.writeHeapSnapshot(path.join(dir, `${tag}-${name}.heapsnapshot`)) : undefined;
    return {
      thread: name,
      used: stats.used_heap_size,
      committed: stats.total_physical_size,
      external: stats.external_memory,
      contexts: stats.number_of_native_contexts,
      spaces,
      file,
    };
  }
  throw new Error(`profile-hook: unknown command ${cmd}`);
}

if (isMainThread) {
  const others = new Set();
  let pending;
  channel.onmessage = ({ data }) => {
    if (data.hello !== undefined) others.add(data.hello);
    else if (data.answer && pending) pending(data.answer);
  };
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    const lines = (buffered + chunk).split('\n');
    buffered = lines.pop();
    for (const line of lines.filter(Boolean)) void handle(line.split(' '));
  });
  process.stdin.unref?.();
  let queue = Promise.resolve();
  const handle = (args) =>
    (queue = queue.then(async () => {
      const answers = [];
      const all = new Promise((resolve) => {
        pending = (a) => {
          answers.push(a);
          if (answers.length === others.size + 1) resolve();
        };
      });
      channel.postMessage({ command: args });
      pending(await run(...args));
      await all;
      console.log(`profile ${JSON.stringify({ command: args[0], answers })}`);
    }));
} else {
  channel.postMessage({ hello: threadId });
  channel.onmessage = ({ data }) => {
    if (!data.command) return;
    run(...data.command).then(
      (answer) => channel.postMessage({ answer }),
      (err) => channel.postMessage({ answer: { thread: threadName(), error: String(err) } }),
    );
  };
}
