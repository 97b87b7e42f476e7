import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'redisHealth',
  description:
    "Is the target's Redis healthy? PING latency, memory in use against maxmemory and its policy, evicted keys, blocked clients, and the slow log's recent slowest commands (names only, never arguments). Read-only.",
  input: z.strictObject({
    maxMemoryPercent: z
      .number()
      .min(1)
      .max(100)
      .optional()
      .describe('Unhealthy when memory in use reaches this share of maxmemory (default 90).'),
    maxBlockedClients: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'Unhealthy above this many clients blocked in BLPOP/BRPOP/XREAD (default 100; consumers waiting on queues count).',
      ),
    slowerThanMs: z
      .number()
      .min(0)
      .optional()
      .describe('Unhealthy when a slow-log entry of the window took longer than this (default 100 ms).'),
    slowlogWindow: z
      .string()
      .regex(/^\d+\s*(s|m|h|d)$/, 'a duration such as 15m, 1h')
      .optional()
      .describe('How far back slow-log entries count (default 1h).'),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type RedisHealthInput = RunbookInput & z.infer<typeof definition.input>;
