import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * A plain SQL dump is a psql script, and psql runs the meta-commands in it (`\!` is a shell on
 * the worker). Two guards, in this order:
 * - the scan (preflight and again before a restore) refuses, with its line, any line that starts
 *   with a backslash outside COPY data. Inside a `COPY … FROM stdin;` block psql reads lines as
 *   data up to `\.` and runs none of them (a data line may well start with `\N` or `\\`);
 * - the restore runs psql in restricted mode (`\restrict <random key>`, psql ≥ 13.22, 14.19,
 *   15.14, 16.10, 17.6), in which psql itself refuses every meta-command, wherever it stands (a
 *   backslash command may also follow SQL on the same line, which a line scan cannot see). The
 *   script cannot lift it: only the key does, and the key is never in the file.
 * pg_dump's own `\restrict`/`\unrestrict` lines (pg_dump ≥ 15.14 brackets its output with them)
 * are the one backslash pair let through by the scan, and left out of what psql reads, since
 * psql is already restricted with our key.
 */

export interface PlainSqlRefusal {
  line: number;
  /** The meta-command, as written (at most 20 characters). */
  command: string;
}

export type LineVerdict = 'pass' | 'drop' | PlainSqlRefusal;

const COPY_FROM_STDIN = /^COPY\s.*\sFROM\s+stdin\b[^;]*;\s*$/i;
const PG_DUMP_RESTRICT = /^\\(?:un)?restrict [A-Za-z0-9]+\r?$/;
const BACKSLASH = 0x5c;

/** Line by line: what psql would see, COPY data apart. */
export class PlainSqlScan {
  lines = 0;
  copyBlocks = 0;
  private inCopy = false;

  /** One line, without its newline. */
  line(bytes: Buffer): LineVerdict {
    this.lines++;
    if (this.inCopy) {
      // psql ends COPY data at a line that is only `\.` (CRLF too); nothing in it is a command.
      if (bytes[0] === BACKSLASH && bytes.length <= 3 && /^\\\.\r?$/.test(bytes.toString('latin1')))
        this.inCopy = false;
      return 'pass';
    }
    if (bytes[0] === BACKSLASH) {
      const text = bytes.subarray(0, 200).toString('latin1');
      if (bytes.length <= 200 && PG_DUMP_RESTRICT.test(text)) return 'drop';
      return { line: this.lines, command: /^\\\S{0,19}/.exec(text)?.[0] ?? '\\' };
    }
    if ((bytes[0] === 0x43 || bytes[0] === 0x63) && COPY_FROM_STDIN.test(bytes.toString('latin1'))) {
      this.inCopy = true;
      this.copyBlocks++;
    }
    return 'pass';
  }
}

/**
 * A file's lines through `keep` (each without its newline), and what it keeps as it was, in
 * chunks of about 1 MiB: kept lines are passed on as runs of the file's own bytes.
 */
async function* keptLines(file: string, keep: (line: Buffer) => boolean): AsyncGenerator<Buffer> {
  let carry = Buffer.alloc(0);
  let out: Buffer[] = [];
  let outBytes = 0;
  const pass = (bytes: Buffer) => {
    if (bytes.length === 0) return;
    out.push(bytes);
    outBytes += bytes.length;
  };
  // A symlink put in the file's place is not followed (out of the backups dir).
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for await (const chunk of handle.createReadStream({
      highWaterMark: 1 << 20,
      autoClose: false,
    }) as AsyncIterable<Buffer>) {
      const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let start = 0;
      let run = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
        if (!keep(data.subarray(start, nl))) {
          pass(data.subarray(run, start));
          run = nl + 1;
        }
        start = nl + 1;
      }
      pass(data.subarray(run, start));
      carry = Buffer.from(data.subarray(start));
      if (outBytes >= 1 << 20) {
        yield Buffer.concat(out);
        out = [];
        outBytes = 0;
      }
    }
  } finally {
    await handle.close();
  }
  if (carry.length && keep(carry)) pass(carry);
  if (out.length) yield Buffer.concat(out);
}

/** Scans a whole file; the first refusal, or how many COPY blocks it holds. */
export async function scanPlainSql(
  file: string,
): Promise<{ copyBlocks: number; lines: number; refused?: PlainSqlRefusal }> {
  const scan = new PlainSqlScan();
  let refused: PlainSqlRefusal | undefined;
  for await (const _ of keptLines(file, (line) => {
    const v = scan.line(line);
    if (typeof v === 'object') refused ??= v;
    return false;
  })) {
    // nothing kept: the scan only reads
  }
  return { copyBlocks: scan.copyBlocks, lines: scan.lines, ...(refused ? { refused } : {}) };
}

/**
 * What psql reads for a restore: `\restrict <key>` first, then the dump without pg_dump's own
 * `\restrict`/`\unrestrict` lines. Any other backslash line goes through as it is, for psql to
 * refuse (the scan before already refused it; this covers a file changed since).
 */
export async function* restrictedScript(file: string, key: string): AsyncGenerator<Buffer> {
  if (!/^[A-Za-z0-9]+$/.test(key)) throw new Error('A restrict key is letters and digits only.');
  yield Buffer.from(`\\restrict ${key}\n`);
  const scan = new PlainSqlScan();
  yield* keptLines(file, (line) => scan.line(line) !== 'drop');
}

/** psql's words when restricted mode refused a meta-command, or when this psql has no restricted mode. */
export const PSQL_REFUSED = /backslash commands are restricted/;
export const PSQL_WITHOUT_RESTRICT = /invalid command \\restrict/;
