import { z } from 'zod';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'preflight',
  description:
    "Checks, before an incident, what the runbooks will need on a target, from the worker on its host: PostgreSQL privileges and tools, alembic's env.py honouring the URL the worker sets, Redis, the services' commands; each failed check with its fix. Read-only; `runbook preflight <target>` runs it and waits.",
  input: z.strictObject({}),
});
