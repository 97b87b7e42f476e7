import { readFileSync } from 'node:fs';
import rateLimit from '@fastify/rate-limit';
import { Ajv } from 'ajv';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AlertmanagerAlert } from '../alerts.js';
import { renderMarkdown } from '../audit/timeline.js';
import { withEvidenceViews } from '../evidence/view.js';
import {
  DecisionError,
  RunNotFoundError,
  ScheduleError,
  TargetBusyError,
  type DecisionRequest,
  type RunbookClient,
  type RunState,
} from '../client.js';
import { catalogue, inputJsonSchema, RunbookInputError } from '../runbooks/catalogue.js';
import { TargetsError } from '../targets.js';
import type { PayloadCodec } from '@temporalio/common';
import type { Person, Role, TokenStore } from './auth.js';
import { codecRoutes, corsFor } from './codec.js';
import { looksLikeJwt, OidcError, OidcUnavailable, type OidcSignIn } from './oidc.js';
import { SessionStore, type SessionOptions } from './sessions.js';
import { MemoryStateStore, StateUnavailable, type StateStore } from './state.js';

/** The HTTP API: authenticate, authorise, call client.ts. Nothing else talks to Temporal. */

import type { Registry } from 'prom-client';
import type { Tracer } from '@opentelemetry/api';
import type pino from 'pino';
import { traceRequests } from '../tracing/http.js';
import { apiLogger } from '../util/log.js';
import { apiMetrics } from './metrics.js';
export interface ApiOptions {
  client: RunbookClient;
  tokens: TokenStore;
  /** Request log (src/util/log.ts apiLogger), off by default; `destination` for tests. */
  logger?: false | { level: string; destination?: pino.DestinationStream };
  /** Payload encryption's codec (RUNBOOK_PAYLOAD_KEY): served on /codec/encode and /codec/decode. */
  codec?: PayloadCodec;
  /** Browser origins (the Temporal UI's) allowed to call the codec with the session cookie. */
  codecOrigins?: string[];
  sessions?: SessionOptions;
  /**
   * Where console sessions live (and, passed to OidcSignIn.discover, sign-ins in progress): this
   * process by default; a PgStateStore shared by the replicas (RUNBOOK_STATE_DATABASE_URL). Its creator closes it.
   */
  state?: StateStore;
  /** Requests per minute per caller (the authenticated person, else the address); default 600. */
  rateLimit?: number;
  /** Single sign-on (RUNBOOK_OIDC_ISSUER): the console signs in with the provider; its JWTs are bearer tokens. */
  sso?: { signIn: OidcSignIn; provider: string };
  /** Where the API counts its requests and starts (served on RUNBOOK_METRICS_PORT, not on this listener). */
  metrics?: Registry;
  /** Tracing on (OTEL_EXPORTER_OTLP_ENDPOINT): each request is a span, the root of what it starts. */
  tracer?: Tracer;
}

declare module 'fastify' {
  interface FastifyRequest {
    person?: Person;
    /** How the person was recognised: the session cookie opens the codec and /session only. */
    authVia?: 'bearer' | 'cookie';
  }
}

const runStates: RunState[] = ['running', 'waiting', 'completed', 'failed', 'aborted', 'timed-out'];
const errorSchema = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } as const;
const idParam = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } as const;
const decisionStatus: Record<DecisionError['kind'], number> = {
  refused: 403,
  'unknown-gate': 404,
  closed: 409,
  'run-ended': 409,
  invalid: 400,
};
const scheduleStatus: Record<ScheduleError['kind'], number> = { invalid: 400, 'not-found': 404, exists: 409 };
const publicPaths = new Set([
  '/healthz',
  '/openapi.json',
  '/console',
  '/auth/config',
  '/auth/login',
  '/auth/callback',
  '/auth/handoff',
]);
/** The only routes the console's session cookie opens; every other one needs the bearer token. */
const cookiePaths = new Set(['/codec/encode', '/codec/decode', '/session']);

/** The operator console's files (src/console): static, public; every call they make carries the person's token. */
const consoleDir = new URL('../console/', import.meta.url);
const consoleFiles: Record<string, { type: string; file: string }> = {
  '': { type: 'text/html; charset=utf-8', file: 'index.html' },
  'console.js': { type: 'text/javascript; charset=utf-8', file: 'console.js' },
  'console.css': { type: 'text/css; charset=utf-8', file: 'console.css' },
};
const consoleHeaders = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** Ajv's words, with the field named: `body/dryRun must be boolean`, `body has unknown field "x"`. */
function validationText(err: FastifyError): string {
  const first = err.validation?.[0] as
    { keyword?: string; params?: { additionalProperty?: string }; instancePath?: string } | undefined;
  const where = `${err.validationContext ?? 'body'}${first?.instancePath ?? ''}`;
  if (first?.keyword === 'additionalProperties')
    return `${where} has unknown field "${first.params?.additionalProperty}": remove it (see /docs for the fields this route takes).`;
  return err.message;
}

/** A recovery gate's correction is a small flat object: bounded so signing and the history stay cheap. */
function correctionProblem(correction: unknown): string | undefined {
  if (correction === undefined) return undefined;
  const depth = (v: unknown, d: number): number => {
    if (d > 8 || v === null || typeof v !== 'object') return d;
    let max = d;
    for (const x of Object.values(v)) max = Math.max(max, depth(x, d + 1));
    return max;
  };
  if (depth(correction, 0) > 8)
    return 'The correction is nested deeper than 8 levels: send the corrected input fields only.';
  if (JSON.stringify(correction).length > 16_384)
    return 'The correction is larger than 16 KB: send the corrected input fields only.';
  return undefined;
}

function unauthenticated(token: string | undefined, cookieAllowed: boolean): string {
  if (token)
    return 'Unknown bearer token: check RUNBOOK_TOKEN (npm start writes development tokens to .data/dev-tokens.json).';
  if (cookieAllowed)
    return 'Not signed in: sign in to the console (its session opens the codec for the Temporal UI), or send "Authorization: Bearer <token>".';
  return 'Missing bearer token: send "Authorization: Bearer <token>".';
}

export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  // Typed as Fastify's base logger: the app's type stays the one every route module expects.
  const app = Fastify(opts.logger ? { loggerInstance: apiLogger(opts.logger) } : { logger: false });
  const { client, tokens } = opts;
  // First: its span covers the hooks below (authentication) as well.
  if (opts.tracer) traceRequests(app, opts.tracer);
  const metrics = opts.metrics ? apiMetrics(app, opts.metrics) : undefined;
  // Bodies: an unknown field or a wrong type is refused with its name, never dropped or coerced
  // ("dryRun": "true"). Query strings and paths are text by nature, so their numbers are read as numbers.
  const strict = new Ajv({ strict: false, removeAdditional: false, coerceTypes: false, useDefaults: true });
  const lenient = new Ajv({ strict: false, removeAdditional: false, coerceTypes: 'array', useDefaults: true });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema));

  // Counted in this process: behind a load balancer with N API replicas a caller gets up to N times
  // the limit. A shared count would need a shared store (the plugin's Redis option); not done yet.
  await app.register(rateLimit, {
    max: opts.rateLimit ?? 600,
    timeWindow: '1 minute',
    // After authentication: a person is one caller wherever they come from, and made-up tokens
    // (refused with 401 before this) cannot buy fresh buckets; anonymous routes count by address.
    hook: 'preHandler',
    keyGenerator: (req) => (req.person ? `person:${req.person.name}` : `ip:${req.ip}`),
    // Thrown to the error handler below, which answers { error } like every other refusal.
    errorResponseBuilder: (_req, ctx) =>
      Object.assign(
        new Error(
          `Too many requests: at most ${ctx.max} a minute per caller; try again in ${Math.ceil(ctx.ttl / 1000)} s.`,
        ),
        { statusCode: 429 },
      ),
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'durable-runbooks',
        version: '0.1.0',
        description: 'Incident runbooks as durable Temporal workflows.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const sessions = new SessionStore(opts.state ?? new MemoryStateStore(), opts.sessions);
  const codecOrigins = new Set((opts.codecOrigins ?? []).map((o) => new URL(o).origin).filter((o) => o !== 'null'));
  const cors = corsFor(codecOrigins);
  app.addHook('onRequest', async (req, reply) => {
    const url = req.url.split('?')[0]!;
    if (publicPaths.has(url) || url.startsWith('/docs') || url.startsWith('/console/')) return;
    if (cookiePaths.has(url)) {
      cors(req, reply); // on refusals too, so the UI can read why
      if (req.method === 'OPTIONS') return; // the preflight carries no credentials
    }
    const header = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    // A JWT is the SSO provider's access token (verified against its JWKS); anything else is one of our tokens.
    let person;
    try {
      person = !token
        ? undefined
        : opts.sso && looksLikeJwt(token)
          ? await opts.sso.signIn.authenticate(token)
          : tokens.authenticate(token);
    } catch (err) {
      if (!(err instanceof OidcUnavailable)) throw err;
      app.log.error(err);
      return reply.code(503).send({ error: err.message });
    }
    req.authVia = 'bearer';
    if (!token && cookiePaths.has(url)) {
      person = await sessions.authenticate(req.headers.cookie);
      req.authVia = 'cookie';
      // The cookie travels with any request the browser makes: honour it from our own pages and the allowed origins only.
      const origin = req.headers.origin;
      if (
        person &&
        origin !== undefined &&
        !codecOrigins.has(origin) &&
        origin !== `${req.protocol}://${req.headers.host}`
      ) {
        return reply.code(403).send({
          error: `Origin ${origin} may not use the console session: add it to RUNBOOK_CODEC_ORIGINS, or send a bearer token.`,
        });
      }
    }
    if (!person) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: unauthenticated(token, cookiePaths.has(url)) });
    }
    req.person = person;
  });

  const need = (role: Role, action: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    if (role === 'approver' && req.person!.service) {
      return reply.code(403).send({
        error: `${req.person!.name} is a service identity (for Alertmanager, CI): it may start runs but never decide gates. A person decides, with their own sign-in or token.`,
      });
    }
    if (!req.person!.roles.includes(role)) {
      return reply.code(403).send({
        error: `${req.person!.name} lacks the "${role}" role needed to ${action} (has: ${req.person!.roles.join(', ')}).`,
      });
    }
  };

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof RunbookInputError || err instanceof TargetsError)
      return reply.code(400).send({ error: err.message });
    if (err instanceof RunNotFoundError) return reply.code(404).send({ error: err.message });
    if (err instanceof TargetBusyError) return reply.code(409).send({ error: err.message });
    if (err instanceof OidcError) return reply.code(503).send({ error: err.message });
    if (err instanceof StateUnavailable) {
      app.log.error(err);
      return reply.code(503).send({
        error: `Sign-in and console sessions are unavailable for a moment (request ${req.id}): try again shortly; the API's log has the details.`,
      });
    }
    if (err instanceof DecisionError) return reply.code(decisionStatus[err.kind]).send({ error: err.message });
    if (err instanceof ScheduleError) return reply.code(scheduleStatus[err.kind]).send({ error: err.message });
    if (err.validation) return reply.code(400).send({ error: `Invalid request: ${validationText(err)}` });
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    // What went wrong inside stays in the API's log: the caller gets the request id to quote.
    app.log.error(err);
    return reply.code(500).send({ error: `Internal error (request ${req.id}): the API's log has the details.` });
  });

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: `No route ${req.method} ${req.url.split('?')[0]}: see /docs for the API's routes.` }),
  );

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  app.get('/console', { schema: { hide: true } }, (_req, reply) => reply.redirect('/console/'));
  app.get<{ Params: { file: string } }>('/console/:file', { schema: { hide: true } }, (req, reply) => {
    const f = Object.hasOwn(consoleFiles, req.params.file) ? consoleFiles[req.params.file] : undefined;
    if (!f) return reply.code(404).send({ error: `No console file ${req.params.file}.` });
    return reply
      .headers(consoleHeaders)
      .type(f.type)
      .send(readFileSync(new URL(f.file, consoleDir)));
  });
  app.post(
    '/session',
    {
      schema: {
        description:
          "Open a console session for the bearer token's person: an HttpOnly cookie that the Temporal UI's codec calls carry (the codec endpoints accept it; no other route does). The console does this at sign-in.",
        security: [{ bearer: [] }],
      },
    },
    async (req, reply) => {
      // A session is opened with the token only: a cookie must not renew itself.
      if (req.authVia !== 'bearer')
        return reply
          .code(400)
          .send({ error: 'A session is opened with a bearer token: send "Authorization: Bearer <token>".' });
      const { cookie, expiresAt } = await sessions.open(req.person!, req.headers.cookie);
      return reply
        .header('set-cookie', cookie)
        .send({ name: req.person!.name, roles: req.person!.roles, expiresAt: expiresAt.toISOString() });
    },
  );
  app.delete(
    '/session',
    {
      schema: {
        description: 'Close the console session (sign out): its cookie no longer opens the codec, on any API replica.',
      },
    },
    async (req, reply) =>
      reply
        .header('set-cookie', await sessions.close(req.headers.cookie))
        .code(204)
        .send(),
  );
  if (opts.codec) codecRoutes(app, { codec: opts.codec, cors });
  else {
    app.post('/codec/:op', { schema: { hide: true } }, (_req, reply) =>
      reply.code(404).send({
        error:
          'Payload encryption is off on this API (RUNBOOK_PAYLOAD_KEY is unset), so payloads are plain JSON: no codec endpoint is needed. If the worker encrypts, start the API with the same key.',
      }),
    );
  }

  app.get('/auth/config', { schema: { hide: true } }, () => ({
    sso: opts.sso !== undefined,
    provider: opts.sso?.provider ?? null,
  }));
  if (opts.sso) {
    const { signIn } = opts.sso;
    const secure = opts.sessions?.secure ? '; Secure' : '';
    const bindingOf = (cookie: string | undefined) => /(?:^|;\s*)runbooks_sso=([\w-]+)/.exec(cookie ?? '')?.[1];
    app.get(
      '/auth/login',
      {
        schema: {
          description: 'Single sign-on: redirects to the OpenID provider (authorization code with PKCE).',
          security: [],
        },
      },
      async (_req, reply) => {
        const { url, binding } = await signIn.begin();
        // Ties the sign-in to this browser (Lax: it comes back with the provider's top-level redirect).
        return reply
          .header('set-cookie', `runbooks_sso=${binding}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=600${secure}`)
          .redirect(url);
      },
    );
    app.get('/auth/callback', { schema: { hide: true } }, async (req, reply) => {
      try {
        const id = await signIn.complete(
          req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '',
          bindingOf(req.headers.cookie),
        );
        return reply.redirect(`/console/#/sso/${id}`);
      } catch (err) {
        if (err instanceof StateUnavailable) throw err; // a 503: the sign-in may be fine, the store did not answer
        app.log.warn(err);
        const message =
          err instanceof OidcError
            ? err.message
            : 'The provider did not complete the sign-in: sign in again from the console.';
        return reply.code(400).type('text/plain; charset=utf-8').send(message);
      }
    });
    app.post<{ Body: { id: string } }>(
      '/auth/handoff',
      {
        schema: {
          hide: true,
          body: {
            type: 'object',
            required: ['id'],
            additionalProperties: false,
            properties: { id: { type: 'string', maxLength: 100 } },
          },
        },
      },
      async (req, reply) => {
        const done = await signIn.redeem(req.body.id, bindingOf(req.headers.cookie));
        if (!done)
          return reply.code(404).send({
            error:
              'This sign-in was already used, is older than a minute, or was begun in another browser: sign in again.',
          });
        return reply
          .header('set-cookie', `runbooks_sso=; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=0${secure}`)
          .send(done);
      },
    );
  }

  app.get('/me', { schema: { description: 'Who the token belongs to, and their roles.' } }, (req) => ({
    name: req.person!.name,
    roles: req.person!.roles,
  }));
  app.get('/targets', { schema: { description: 'The target names runs can be started on (names only).' } }, () => ({
    targets: client.targetNames(),
  }));

  app.get(
    '/healthz',
    {
      schema: {
        description: 'Up when the API can reach Temporal. No auth.',
        security: [],
        response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } }, 503: errorSchema },
      },
    },
    async (_req, reply) => {
      try {
        // A probe answers within seconds, whatever the connection's own retries would wait.
        const { connection } = client.temporal;
        await connection.withDeadline(Date.now() + 3000, () => connection.workflowService.getSystemInfo({}));
        return { ok: true };
      } catch (err) {
        app.log.error(err);
        return reply.code(503).send({ error: 'Temporal is not reachable from the API: its log has the details.' });
      }
    },
  );

  app.get('/runbooks', { schema: { description: 'Each runbook with its input schema and gates.' } }, () => ({
    runbooks: catalogue.map((r) => ({
      name: r.name,
      description: r.description,
      mutates: r.mutates,
      gates: r.gates,
      inputSchema: inputJsonSchema(r),
    })),
  }));

  app.post<{ Params: { name: string }; Body: { target: string; input?: Record<string, unknown>; dryRun?: boolean } }>(
    '/runbooks/:name/runs',
    {
      preHandler: need('operator', 'start runbooks'),
      schema: {
        description:
          'Start a run (role operator). Bad input (unknown runbook or target, invalid input) starts nothing: 400 with the reason.',
        params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        body: {
          type: 'object',
          required: ['target'],
          additionalProperties: false,
          properties: {
            target: { type: 'string', minLength: 1 },
            input: { type: 'object' },
            dryRun: { type: 'boolean' },
          },
        },
        response: {
          201: { type: 'object', properties: { id: { type: 'string' }, uiUrl: { type: 'string' } } },
          400: errorSchema,
          403: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const started = await client.start(req.params.name, { ...req.body, initiator: req.person!.name });
      metrics?.runStarted(req.params.name, req.body.target);
      return reply.code(201).send(started);
    },
  );

  app.get<{ Querystring: { runbook?: string; target?: string; status?: RunState; limit?: number } }>(
    '/runs',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            runbook: { type: 'string' },
            target: { type: 'string' },
            status: { type: 'string', enum: runStates },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        },
      },
    },
    async (req) => ({ runs: await client.list(req.query) }),
  );

  // Each open gate carries its evidence as a view (sections of facts, lists, tables, code) beside the raw evidence.
  app.get<{ Params: { id: string } }>(
    '/runs/:id',
    { schema: { params: idParam, response: { 404: errorSchema } } },
    async (req) => withEvidenceViews(await client.status(req.params.id)),
  );

  app.post<{ Params: { id: string; gate: string }; Body: DecisionRequest }>(
    '/runs/:id/gates/:gate',
    {
      preHandler: need('approver', 'decide gates'),
      schema: {
        description:
          'Approve or reject a gate (role approver). The decision is signed by the API for this run, gate and plan. 403: refused by policy (four-eyes, role, digest…), 404: no such run or gate, 409: gate closed or run ended.',
        params: {
          type: 'object',
          properties: { id: { type: 'string' }, gate: { type: 'string' } },
          required: ['id', 'gate'],
        },
        body: {
          type: 'object',
          required: ['decision'],
          additionalProperties: false,
          properties: {
            decision: { type: 'string', enum: ['approve', 'reject'] },
            comment: { type: 'string', maxLength: 2000 },
            planDigest: { type: 'string', pattern: '^[0-9a-f]{16}$' },
            action: {
              type: 'string',
              enum: ['retry', 'skip'],
              description: 'Recovery gates: retry the failed step (default) or skip it.',
            },
            correction: { type: 'object', description: 'Recovery gates: corrected input for the retried step.' },
          },
        },
        response: { 400: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const tooBig = correctionProblem(req.body.correction);
      if (tooBig) return reply.code(400).send({ error: tooBig });
      const gate = await client.decide(req.params.id, req.params.gate, req.body, {
        person: req.person!.name,
        roles: req.person!.roles,
      });
      return { gate };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/runs/:id/abort',
    {
      preHandler: need('operator', 'abort runs'),
      schema: {
        description:
          'Break glass (role operator): stop the run, run its compensations, release what it holds. Journaled with who and why.',
        params: idParam,
        body: {
          type: 'object',
          required: ['reason'],
          additionalProperties: false,
          properties: { reason: { type: 'string', minLength: 1, maxLength: 2000 } },
        },
        response: { 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      await client.abort(req.params.id, req.person!.name, req.body.reason);
      return reply.code(202).send({ aborting: true });
    },
  );

  app.post<{ Params: { id: string }; Body: { note: string } }>(
    '/runs/:id/root-cause',
    {
      preHandler: need('operator', 'record root causes'),
      schema: {
        description:
          'The root-cause note a repair runbook (migration-failed) asks for at its end; recorded with who wrote it and put in the timeline.',
        params: idParam,
        body: {
          type: 'object',
          required: ['note'],
          additionalProperties: false,
          properties: { note: { type: 'string', minLength: 1, maxLength: 5000 } },
        },
        response: { 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      await client.rootCause(req.params.id, req.person!.name, req.body.note);
      return reply.code(202).send({ recorded: true });
    },
  );

  app.post<{ Body: { alerts: AlertmanagerAlert[] } }>(
    '/alerts/alertmanager',
    {
      preHandler: need('operator', 'start runbooks from alerts'),
      schema: {
        description:
          "Alertmanager's webhook (receiver with http_config.authorization: a token with the operator role). Each firing alert is routed to (runbook, target) by its labels (runbook or a known alertname; runbook_target or the target's alerts.labels) and starts that runbook — one run while it is open, every alert journaled on it. Alerts that cannot be routed are accepted, reported under ignored, and start nothing.",
        body: {
          type: 'object',
          required: ['alerts'],
          properties: {
            alerts: {
              type: 'array',
              maxItems: 1000,
              items: {
                type: 'object',
                properties: {
                  status: { type: 'string' },
                  labels: { type: 'object', additionalProperties: { type: 'string' } },
                  annotations: { type: 'object', additionalProperties: { type: 'string' } },
                  startsAt: { type: 'string' },
                  fingerprint: { type: 'string' },
                },
              },
            },
          },
        },
      },
    },
    async (req, reply) => reply.code(202).send(await client.alerts(req.body, req.person!.name)),
  );

  scheduleRoutes(app, client, need);

  app.get<{ Params: { id: string }; Querystring: { format?: 'md' | 'json' } }>(
    '/runs/:id/timeline',
    {
      schema: {
        params: idParam,
        querystring: { type: 'object', properties: { format: { type: 'string', enum: ['md', 'json'] } } },
        response: { 404: errorSchema },
      },
    },
    async (req, reply) => {
      const timeline = await client.timeline(req.params.id);
      if (req.query.format === 'json') return timeline;
      return reply.type('text/markdown; charset=utf-8').send(renderMarkdown(timeline));
    },
  );

  return app;
}

/** Scheduled read-only checks on Temporal Schedules (visible in the Temporal UI under Schedules). */
function scheduleRoutes(
  app: FastifyInstance,
  client: RunbookClient,
  need: (role: Role, action: string) => (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
): void {
  const refusals = { 400: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema };
  const noteBody = {
    type: 'object',
    additionalProperties: false,
    properties: { note: { type: 'string', minLength: 1, maxLength: 500 } },
  } as const;
  app.post<{
    Body: { runbook: string; target: string; every: string; input?: Record<string, unknown>; note?: string };
  }>(
    '/schedules',
    {
      preHandler: need('operator', 'schedule checks'),
      schema: {
        description:
          "Run a read-only check on a target every interval (role operator), as a Temporal Schedule check-<runbook>-<target>: one per pair, overlapping runs skipped. A run that finds a problem notifies the target's hooks and, where the target declares schedules.<runbook>.escalate, starts that runbook through the alert intake. 400: not a read-only check, unknown target, interval under 1m; 409: the pair already has a schedule.",
        body: {
          type: 'object',
          required: ['runbook', 'target', 'every'],
          additionalProperties: false,
          properties: {
            runbook: { type: 'string', minLength: 1 },
            target: { type: 'string', minLength: 1 },
            every: { type: 'string', minLength: 1, description: 'e.g. 15m, 1h (at least 1m)' },
            input: { type: 'object' },
            note: { type: 'string', maxLength: 500 },
          },
        },
        response: refusals,
      },
    },
    async (req, reply) => {
      const { runbook, target, every, input, note } = req.body;
      return reply
        .code(201)
        .send(await client.createSchedule(runbook, target, every, { initiator: req.person!.name, input, note }));
    },
  );
  app.get(
    '/schedules',
    { schema: { description: 'The scheduled checks, paused or not, with their next run and recent runs.' } },
    async () => ({ schedules: await client.listSchedules() }),
  );
  app.get<{ Params: { id: string } }>(
    '/schedules/:id',
    { schema: { params: idParam, response: { 404: errorSchema } } },
    async (req) => client.describeSchedule(req.params.id),
  );
  app.post<{ Params: { id: string }; Body: { note?: string } | undefined }>(
    '/schedules/:id/pause',
    {
      preHandler: need('operator', 'pause schedules'),
      schema: {
        description: 'Pause a scheduled check (role operator); the note says why and is shown in the Temporal UI.',
        params: idParam,
        body: noteBody,
        response: refusals,
      },
    },
    async (req) => client.pauseSchedule(req.params.id, req.person!.name, req.body?.note),
  );
  app.post<{ Params: { id: string }; Body: { note?: string } | undefined }>(
    '/schedules/:id/unpause',
    {
      preHandler: need('operator', 'unpause schedules'),
      schema: {
        description: 'Resume a paused scheduled check (role operator).',
        params: idParam,
        body: noteBody,
        response: refusals,
      },
    },
    async (req) => client.unpauseSchedule(req.params.id, req.person!.name, req.body?.note),
  );
  app.post<{ Params: { id: string } }>(
    '/schedules/:id/trigger',
    {
      preHandler: need('operator', 'trigger schedules'),
      schema: {
        description: 'Run the check now (role operator), even while its previous run is still going.',
        params: idParam,
        response: refusals,
      },
    },
    async (req, reply) => {
      await client.triggerSchedule(req.params.id);
      return reply.code(202).send({ triggered: true });
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/schedules/:id',
    {
      preHandler: need('operator', 'delete schedules'),
      schema: {
        description: 'Delete a scheduled check (role operator); its past runs stay.',
        params: idParam,
        response: refusals,
      },
    },
    async (req, reply) => {
      await client.deleteSchedule(req.params.id);
      return reply.code(204).send();
    },
  );
}
