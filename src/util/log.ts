import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { redact } from './redact.js';

/**
 * The worker's log: one JSON object a line (pino), for the SDK's own messages and for what
 * workflow and activity code logs (the SDK adds workflowId, runId, workflowType, activityType…;
 * runbooks add runbook, target and step). Every message and string field goes through `redact`
 * with the targets' secret values first: a connection string or a password never reaches a log.
 */
export function jsonLogger(opts: {
  level: string;
  secrets: () => string[];
  destination?: pino.DestinationStream;
}): Logger {
  const base = pino(
    { level: opts.level, base: { process: 'worker' }, timestamp: pino.stdTimeFunctions.isoTime },
    opts.destination ?? pino.destination(1),
  );
  return new PinoSdkLogger(base, opts.secrets);
}

/**
 * The API's log (Fastify's request log): one JSON object a line, `process: "api"`. A request is
 * its method, path and route pattern only: never its query string (an OIDC callback's code and
 * state), its headers (the bearer token, the session cookie) or its body.
 */
export function apiLogger(opts: { level: string; destination?: pino.DestinationStream }): FastifyBaseLogger {
  return pino(
    {
      level: opts.level,
      base: { process: 'api' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: {
        req: (req: { method?: string; url?: string; routeOptions?: { url?: string } }) => ({
          method: req.method,
          path: (req.url ?? '').split('?')[0],
          route: req.routeOptions?.url,
        }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
      redact: {
        paths: ['headers.authorization', 'headers.cookie', 'req.headers', 'authorization', 'cookie'],
        censor: '[redacted]',
      },
    },
    opts.destination ?? pino.destination(1),
  );
}

const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

export class PinoSdkLogger implements Logger {
  constructor(
    private readonly pino: pino.Logger,
    private readonly secrets: () => string[],
  ) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const secrets = this.secrets();
    this.pino[levels[level] ?? 'info'](clean(meta ?? {}, secrets) as object, redact(message, secrets));
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/** Strings redacted, errors as their (redacted) message, depth bounded; symbols (the SDK's internal keys) dropped. */
function clean(value: unknown, secrets: string[], depth = 0): unknown {
  if (typeof value === 'string') return redact(value, secrets);
  if (value instanceof Error) return { name: value.name, message: redact(value.message, secrets) };
  if (value === null || typeof value !== 'object') return value;
  if (depth > 4) return '[nested]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => clean(v, secrets, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clean(v, secrets, depth + 1)]));
}
