import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { RunNotFoundError, type RunbookClient, type RunState } from '../client.js';
import { catalogue, inputJsonSchema, RunbookInputError } from '../runbooks.js';
import { TargetsError } from '../targets.js';

/** The HTTP API: thin routes over client.ts. */

export interface ApiOptions {
  client: RunbookClient;
  logger?: boolean | { level: string };
}

const runStates: RunState[] = ['running', 'waiting', 'completed', 'failed', 'aborted', 'timed-out'];
const errorSchema = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } as const;

export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false });
  const { client } = opts;

  await app.register(swagger, {
    openapi: { info: { title: 'durable-runbooks', version: '0.1.0', description: 'Incident runbooks as durable Temporal workflows.' } },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err instanceof RunbookInputError || err instanceof TargetsError) return reply.code(400).send({ error: err.message });
    if (err instanceof RunNotFoundError) return reply.code(404).send({ error: err.message });
    if (err.validation) return reply.code(400).send({ error: `Invalid request: ${err.message}` });
    app.log.error(err);
    return reply.code(err.statusCode && err.statusCode < 500 ? err.statusCode : 500).send({ error: err.message });
  });

  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  app.get('/healthz', { schema: { description: 'Up when the API can reach Temporal.', response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } }, 503: errorSchema } } }, async (_req, reply) => {
    try {
      await client.temporal.connection.workflowService.getSystemInfo({});
      return { ok: true };
    } catch (err) {
      return reply.code(503).send({ error: `Temporal is not reachable: ${(err as Error).message}` });
    }
  });

  app.get('/runbooks', { schema: { description: 'Each runbook with its input schema and gates.' } }, () => ({
    runbooks: catalogue.map((r) => ({ name: r.name, description: r.description, mutates: r.mutates, gates: r.gates, inputSchema: inputJsonSchema(r) })),
  }));

  app.post<{ Params: { name: string }; Body: { target: string; input?: Record<string, unknown>; dryRun?: boolean; initiator?: string } }>('/runbooks/:name/runs', {
    schema: {
      description: 'Start a run. Bad input (unknown runbook or target, invalid input) starts nothing: 400 with the reason.',
      params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      body: {
        type: 'object',
        required: ['target'],
        additionalProperties: false,
        properties: { target: { type: 'string', minLength: 1 }, input: { type: 'object' }, dryRun: { type: 'boolean' }, initiator: { type: 'string' } },
      },
      response: { 201: { type: 'object', properties: { id: { type: 'string' }, uiUrl: { type: 'string' } } }, 400: errorSchema },
    },
  }, async (req, reply) => {
    const started = await client.start(req.params.name, { ...req.body, initiator: req.body.initiator ?? 'api' });
    return reply.code(201).send(started);
  });

  app.get<{ Querystring: { runbook?: string; target?: string; status?: RunState; limit?: number } }>('/runs', {
    schema: {
      querystring: {
        type: 'object',
        properties: { runbook: { type: 'string' }, target: { type: 'string' }, status: { type: 'string', enum: runStates }, limit: { type: 'integer', minimum: 1, maximum: 1000 } },
      },
    },
  }, async (req) => ({ runs: await client.list(req.query) }));

  app.get<{ Params: { id: string } }>('/runs/:id', {
    schema: { params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] }, response: { 404: errorSchema } },
  }, async (req) => client.status(req.params.id));

  return app;
}
