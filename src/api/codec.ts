import type { Payload, PayloadCodec } from '@temporalio/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CodecKeyError } from '../codec.js';

/**
 * The remote codec endpoints (`POST /codec/encode`, `POST /codec/decode`) that the Temporal UI and
 * the temporal CLI (`--codec-endpoint`) call, in Temporal's codec-server format: `{"payloads":
 * [{"metadata": {name: base64}, "data": base64}]}` in and out. The UI calls them from the browser,
 * so they answer CORS for the allowed origins, with credentials (the console's session cookie).
 * Decoding needs any signed-in person; encoding (the input of signals and updates sent from the
 * UI) needs an operator or an approver, as acting does.
 */

export interface CodecRouteOptions {
  codec: PayloadCodec;
  /** CORS headers for the request's origin when it is allowed; see corsFor. */
  cors: Cors;
}

export type Cors = (req: FastifyRequest, reply: FastifyReply) => boolean;

/** CORS with credentials for the allowed origins only; others get no CORS headers, so their browser reads nothing. */
export function corsFor(origins: ReadonlySet<string>): Cors {
  return (req, reply) => {
    const origin = req.headers.origin;
    reply.header('vary', 'Origin');
    if (!origin || origin === 'null' || !origins.has(origin)) return false;
    reply.header('access-control-allow-origin', origin).header('access-control-allow-credentials', 'true');
    return true;
  };
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const base64 = { type: 'string', pattern: '^[A-Za-z0-9+/_-]*={0,2}$' } as const;
const payloadsSchema = {
  type: 'object',
  required: ['payloads'],
  properties: {
    payloads: {
      type: 'array',
      maxItems: 10_000,
      items: {
        type: 'object',
        properties: { metadata: { type: 'object', additionalProperties: base64 }, data: base64 },
      },
    },
  },
} as const;
const errorSchema = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } as const;
const corsHeaders = 'content-type, x-namespace, authorization';

export function codecRoutes(app: FastifyInstance, opts: CodecRouteOptions): void {
  const { cors } = opts;
  for (const op of ['encode', 'decode'] as const) {
    app.options(`/codec/${op}`, { schema: { hide: true } }, (req, reply) => {
      if (!cors(req, reply))
        return reply.code(403).send({
          error: `Origin ${req.headers.origin ?? '(none)'} may not call the codec: add it to RUNBOOK_CODEC_ORIGINS.`,
        });
      return reply
        .code(204)
        .header('access-control-allow-methods', 'POST')
        .header('access-control-allow-headers', corsHeaders)
        .header('access-control-max-age', '600')
        .send();
    });

    app.post<{ Body: { payloads: JsonPayload[] } }>(
      `/codec/${op}`,
      {
        bodyLimit: 16 * 1024 * 1024,
        preHandler: async (req, reply) => {
          if (op === 'encode' && !req.person!.roles.some((r) => r === 'operator' || r === 'approver')) {
            return reply.code(403).send({
              error: `${req.person!.name} lacks the operator or approver role needed to encode payloads (the input of signals and updates); has: ${req.person!.roles.join(', ')}.`,
            });
          }
        },
        schema: {
          description:
            op === 'encode'
              ? 'Encrypt payloads (Temporal codec-server format) for signals and updates sent from the Temporal UI or the temporal CLI. Role operator or approver; a bearer token or the console session cookie.'
              : 'Decrypt payloads (Temporal codec-server format) for the Temporal UI or the temporal CLI. Any signed-in person; a bearer token or the console session cookie.',
          body: payloadsSchema,
          response: { 401: errorSchema, 403: errorSchema, 422: errorSchema },
        },
      },
      async (req, reply) => {
        const payloads = req.body.payloads.map(fromJson);
        try {
          const out = op === 'encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
          return { payloads: out.map(toJson) };
        } catch (err) {
          if (err instanceof CodecKeyError) return reply.code(422).send({ error: err.message });
          throw err;
        }
      },
    );
  }
}

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
    data: p.data === undefined ? undefined : Buffer.from(p.data, 'base64'),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    ...(p.data ? { data: Buffer.from(p.data).toString('base64') } : {}),
  };
}
