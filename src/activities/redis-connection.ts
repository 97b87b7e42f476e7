import { ApplicationFailure } from '@temporalio/common';
import { Redis } from 'ioredis';
import { redact } from '../util/redact.js';

/** A target's Redis: the URL with its password (from the worker's environment), and as shown to people. */
export interface RedisEndpoint {
  url: string;
  /** The URL without credentials, for messages. */
  shown: string;
  password?: string;
}

/**
 * One connection to a target's Redis for `fn`, closed after. Unreachable: a retryable failure
 * naming the host and what to check, the password redacted; no offline queue, no reconnects.
 */
export async function withRedisConnection<T>(
  e: RedisEndpoint,
  where: { target: string; targetsFile: string },
  fn: (r: Redis) => Promise<T>,
): Promise<T> {
  const r = new Redis(e.url, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
  } catch (err) {
    throw ApplicationFailure.retryable(
      `Cannot reach Redis at ${e.shown} (target "${where.target}"): ${redact((err as Error).message, [e.password])}. Check that Redis runs and redis.url in ${where.targetsFile}.`,
      'RedisUnreachable',
    );
  }
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}
