import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';

/**
 * What an activity has already done, on the host it runs on, so that its retry after a crash
 * (the worker killed after a command ran, before the result reached Temporal) does not do it
 * again. One small file per activity execution (workflow run + activity id), replaced atomically
 * (unique temp file, fsync, rename, fsync of the directory) after each irreversible command;
 * kept a week.
 */
export interface StepLedger<T> {
  /** What an earlier attempt of this activity recorded; undefined on the first attempt. */
  read(): Promise<T | undefined>;
  write(value: T): Promise<void>;
}

const KEEP_MS = 7 * 24 * 3600_000;

/** The ledger of the running activity, or undefined outside an activity or without a directory. */
export function stepLedger<T>(dir: string | undefined): StepLedger<T> | undefined {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return undefined; // called directly (tests, bench): no retries to protect
  }
  if (!dir || !info.workflowExecution) return undefined;
  const { workflowId, runId } = info.workflowExecution;
  return fileLedger(dir, `${workflowId}/${runId}/${info.activityId}`, info.attempt);
}

/** The ledger kept in `dir` under `key`; `attempt` 1 ignores whatever the file holds. */
export function fileLedger<T>(dir: string, key: string, attempt: number): StepLedger<T> {
  const file = path.join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  return {
    async read() {
      if (attempt <= 1) return undefined;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        return undefined; // the earlier attempt recorded nothing
      }
      return JSON.parse(text) as T; // written whole by rename: a parse error is a real fault, not "nothing done"
    },
    async write(value) {
      await mkdir(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify(value));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
      const d = await open(dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
      await prune(dir).catch(() => undefined); // housekeeping must never fail the step
    },
  };
}

async function prune(dir: string): Promise<void> {
  const cutoff = Date.now() - KEEP_MS;
  for (const name of await readdir(dir)) {
    const f = path.join(dir, name);
    const s = await stat(f).catch(() => undefined);
    if (s && s.mtimeMs < cutoff) await rm(f, { force: true });
  }
}
