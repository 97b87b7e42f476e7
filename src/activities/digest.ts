import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * sha256 of dump files, and the rows of each table's COPY data, read in one pass on worker
 * threads: hashing on the event loop used one core and was a tenth of a dump's time on a
 * 2-core worker (bench/RESULTS.md). Counting rows from the files instead of `count(*)` on the
 * database makes them exactly the dump's rows, even of a database still being written.
 */

export interface FileDigest {
  file: string;
  bytes: number;
  sha256: string;
  /** Rows in a COPY data file (lines before pg_dump's `\.` end marker), when asked and readable. */
  rows?: number | null;
}

export interface DigestRequest {
  /** Absolute path. */
  path: string;
  /** Count the rows of this COPY text data file (pg_dump's `<dumpId>.dat` or `.dat.gz`). */
  countRows?: boolean;
}

/**
 * Rows in COPY text data from its newline count and its last bytes: each row ends in a newline
 * (newlines inside values are escaped as `\n`), and the data ends with the `\.` line, which
 * pg_dump follows with blank lines. Null when the end marker is missing (not data we understand).
 */
export function copyRows(newlines: number, tail: string, wholeFile: boolean): number | null {
  const m = /(^|\n)\\\.(\n+)$/.exec(tail);
  if (!m || (m[1] === '' && !wholeFile)) return null;
  return newlines - m[2]!.length;
}

// Plain JavaScript: it runs in a worker thread, with no TypeScript loader there (tsx, vitest).
// Blocking reads: the thread does nothing else, and they scale across threads where streams did not.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { closeSync, constants, createReadStream, openSync, readSync } = require('node:fs');
// A symlink put in place of a dump's file is not followed (out of the backups dir).
const NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;
const { createGunzip } = require('node:zlib');
const TAIL = 16;
function counter() {
  const c = { newlines: 0, bytes: 0, tail: Buffer.alloc(0) };
  c.add = (chunk) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) c.newlines++;
    c.bytes += chunk.length;
    c.tail = Buffer.concat([c.tail, chunk.subarray(Math.max(0, chunk.length - TAIL))]).subarray(-TAIL);
  };
  c.result = () => ({ newlines: c.newlines, tail: c.tail.toString('latin1'), whole: c.bytes <= TAIL });
  return c;
}
const buffer = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', async ({ path, countRows }) => {
  try {
    const hash = createHash('sha256');
    const gz = path.endsWith('.gz');
    const rows = countRows && !gz ? counter() : undefined;
    let bytes = 0;
    const fd = openSync(path, NOFOLLOW);
    try {
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; bytes += n) {
        hash.update(buffer.subarray(0, n));
        if (rows) rows.add(buffer.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
    let counted = rows && rows.result();
    if (countRows && gz) {
      const c = counter();
      for await (const chunk of createReadStream(path, { fd: openSync(path, NOFOLLOW) }).pipe(createGunzip())) c.add(chunk);
      counted = c.result();
    }
    parentPort.postMessage({ ok: true, bytes, sha256: hash.digest('hex'), counted });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String((err && err.message) || err) });
  }
});
`;

type Reply = {
  ok: boolean;
  error?: string;
  bytes: number;
  sha256: string;
  counted?: { newlines: number; tail: string; whole: boolean };
};

// Threads kept between calls: starting one costs about 0.1 s, a tenth of a small dump's time.
// Each is lent to one lane at a time; an idle one does not keep the process alive.
const idle: Worker[] = [];
const MAX_IDLE = 4;

function borrow(): Worker {
  const worker = idle.pop() ?? new Worker(WORKER_SOURCE, { eval: true });
  worker.ref();
  return worker;
}

function giveBack(worker: Worker): void {
  worker.unref();
  if (idle.length < MAX_IDLE) idle.push(worker);
  else void worker.terminate();
}

function ask(worker: Worker, req: DigestRequest): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const onError = (err: Error) => {
      worker.off('message', onMessage);
      reject(err);
    };
    const onMessage = (reply: Reply) => {
      worker.off('error', onError);
      resolve(reply);
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.postMessage({ path: req.path, countRows: req.countRows === true });
  });
}

/** Digests files on up to `threads` worker threads (default: one per core, at most 4), largest first. */
export async function digestFiles(
  requests: DigestRequest[],
  opts: { threads?: number; sizes?: number[] } = {},
): Promise<Array<Omit<FileDigest, 'file'>>> {
  const out = new Array<Omit<FileDigest, 'file'>>(requests.length);
  const order = requests.map((_, i) => i);
  if (opts.sizes) order.sort((a, b) => opts.sizes![b]! - opts.sizes![a]!);
  const threads = Math.max(1, Math.min(opts.threads ?? Math.min(4, availableParallelism()), requests.length));
  let next = 0;
  const lane = async () => {
    const worker = borrow();
    let healthy = false;
    try {
      for (let k = next++; k < order.length; k = next++) {
        const i = order[k]!;
        const req = requests[i]!;
        const reply = await ask(worker, req);
        if (!reply.ok) throw new Error(`cannot read ${req.path}: ${reply.error}`);
        out[i] = {
          bytes: reply.bytes,
          sha256: reply.sha256,
          ...(req.countRows
            ? { rows: reply.counted ? copyRows(reply.counted.newlines, reply.counted.tail, reply.counted.whole) : null }
            : {}),
        };
      }
      healthy = true;
    } finally {
      if (healthy) giveBack(worker);
      else void worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: threads }, lane));
  return out;
}
