import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { redact, trimOutput } from '../util/redact.js';
import { childEnv } from './child-env.js';
import { FailureType } from './errors.js';
import { brokerUrl, type ImportsContext, importsSpec } from './imports-config.js';

/**
 * The app's own Celery app, run by python/celery_tool.py with the broker URL in its environment
 * only: ping the workers, publish re-enqueued items.
 */

const CELERY_TOOL = fileURLToPath(new URL('./python/celery_tool.py', import.meta.url));

/** How to run the app's Celery app for the target, and its two failures (redacted). */
function celerySpec(ctx: ImportsContext, target: string) {
  const s = importsSpec(ctx, target);
  if (!s.celery)
    throw ApplicationFailure.nonRetryable(
      `Target "${target}" has no imports.celery section in ${ctx.targets.file}: without the app's Celery app nothing can be published or pinged.`,
      FailureType.targetConfig,
    );
  const b = brokerUrl(ctx, target);
  const failed = (output: string) =>
    ApplicationFailure.nonRetryable(
      `The app's Celery (${s.celery!.app}, in ${s.celery!.cwd ?? "the worker's directory"}) failed: ${trimOutput(redact(output, [b.password]), 8, 1200)}`,
      'CeleryFailed',
    );
  // The broker down (Redis restarting, a failover): retried, as the ledger makes a repeat safe.
  const brokerDown = (detail: string) =>
    ApplicationFailure.retryable(
      `The broker ${b.shown} could not be reached by the app's Celery (${trimOutput(redact(detail, [b.password]), 2, 400)}): retried; items already published are in the ledger and are not published again.`,
      'BrokerUnavailable',
    );
  return {
    celery: s.celery,
    argv: [CELERY_TOOL, s.celery.app],
    opts: {
      cwd: s.celery.cwd,
      env: childEnv(
        { [s.celery.brokerEnv]: b.url, PYTHONDONTWRITEBYTECODE: '1' },
        { pass: ctx.targets.passEnv(target), env: ctx.env },
      ),
    },
    failed,
    brokerDown,
  };
}

export async function celeryPing(ctx: ImportsContext, target: string, timeoutS: number): Promise<string[]> {
  const c = celerySpec(ctx, target);
  const r = await execa(c.celery.python, [...c.argv, 'ping', String(timeoutS)], {
    ...c.opts,
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('CELERY_JSON '));
  if (r.exitCode !== 0 || !line) throw c.failed(`${r.stderr}\n${r.stdout}`);
  return (JSON.parse(line.slice('CELERY_JSON '.length)) as { replied: string[] }).replied;
}

/** One publisher process for a whole re-enqueue: batches in, an acknowledgement per batch out. */
export function celeryPublisher(ctx: ImportsContext, target: string) {
  const c = celerySpec(ctx, target);
  const proc = spawn(c.celery.python, [...c.argv, 'publish', c.celery.task, c.celery.queue], {
    ...c.opts,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8192);
  });
  const lines = createInterface({ input: proc.stdout });
  const acks: string[] = [];
  let waiting: ((line: string | null) => void) | undefined;
  lines.on('line', (l) => {
    if (!l.startsWith('CELERY_JSON ')) return;
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w(l);
    } else acks.push(l);
  });
  const exited = new Promise<null>((resolve) => proc.on('close', () => resolve(null)));
  proc.on('error', () => undefined);
  proc.stdin.on('error', () => undefined); // a publisher that died is reported by publish()
  return {
    async publish(rows: Array<{ item_id: string; task_id: string }>): Promise<number> {
      proc.stdin.write(rows.map((r) => `${r.item_id} ${r.task_id}\n`).join('') + 'FLUSH\n');
      const line =
        acks.shift() ??
        (await Promise.race([
          new Promise<string | null>((resolve) => {
            waiting = resolve;
          }),
          exited,
        ]));
      if (line === null) throw c.failed(stderr || `the publisher exited (code ${proc.exitCode})`);
      const answer = JSON.parse(line.slice('CELERY_JSON '.length)) as {
        published?: number;
        error?: string;
        detail?: string;
      };
      if (answer.error === 'broker-unavailable') throw c.brokerDown(answer.detail ?? stderr);
      const published = answer.published ?? -1;
      if (published !== rows.length)
        throw c.failed(`the publisher acknowledged ${published} of ${rows.length} messages`);
      return published;
    },
    async close(): Promise<void> {
      proc.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      proc.kill('SIGKILL');
    },
  };
}
