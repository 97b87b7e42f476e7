import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { testLogDir } from './secrets.js';

// Workers in tests print only errors (expected workflow failures would otherwise flood the
// output); everything from INFO up (the SDK's, the workflows' and activities' own lines) goes to a
// log file of the run, which the suite-wide secret scan reads (test/support/secrets.ts).
const dir = testLogDir();
const file = dir ? createWriteStream(path.join(dir, `in-process-${process.pid}.jsonl`), { flags: 'a' }) : undefined;
const printErrors = new DefaultLogger('ERROR');

function write(entry: LogEntry): void {
  if (entry.level === 'ERROR') printErrors.log(entry.level, entry.message, entry.meta);
  if (!file) return;
  let line: string;
  try {
    line = JSON.stringify({ level: entry.level, msg: entry.message, ...entry.meta }, (_k, v: unknown) =>
      typeof v === 'bigint' ? String(v) : v,
    );
  } catch {
    line = JSON.stringify({ level: entry.level, msg: entry.message });
  }
  file.write(`${line}\n`);
}

Runtime.install({ logger: new DefaultLogger('INFO', write) });
