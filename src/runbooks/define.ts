import { z } from 'zod';
import { takesLock, type Procedure, type ProcedureItem } from '../contract/procedure.js';

/**
 * defineRunbook(): what a runbook folder's definition.ts declares (its procedure, workflow type,
 * description and input schema), with what follows from it: the gates, whether it changes its
 * target, the input's validation and its JSON schema. Callers and activities import definitions;
 * workflow code imports their types only (zod stays out of the workflow bundle).
 */

const retry = z
  .strictObject({
    initialInterval: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(ms|milliseconds?|s|seconds?|m|minutes?)$/, 'a duration such as "2 seconds"')
      .optional(),
    maximumAttempts: z.number().int().min(1).max(20).optional(),
    activityTimeout: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(s|seconds?|m|minutes?)$/, 'a duration such as "30 seconds"')
      .optional(),
    heartbeatTimeout: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(s|seconds?|m|minutes?)$/, 'a duration such as "10 seconds"')
      .optional(),
    scheduleToStartTimeout: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(s|seconds?|m|minutes?)$/, 'a duration such as "5 minutes"')
      .optional(),
  })
  .optional()
  .describe('Retry policy of each step (bounded). For tests and slow networks.');

export interface RunbookDefinition<Input extends z.ZodObject = z.ZodObject> {
  name: string;
  workflowType: string;
  description: string;
  /** Its steps and gates in order (steps.ts). */
  steps: readonly ProcedureItem[];
  /** Derived: the gates, in procedure order. */
  gates: string[];
  /** Derived: a runbook that always takes its target's lock changes it and has gates; read-only ones do not. */
  mutates: boolean;
  /** Runbook-specific input, beside the common target/initiator/dryRun/retry. */
  input: Input;
}

export function defineRunbook<Input extends z.ZodObject>(d: {
  procedure: Procedure;
  workflowType: string;
  description: string;
  input: Input;
}): RunbookDefinition<Input> {
  const { procedure, ...rest } = d;
  return {
    ...rest,
    name: procedure.name,
    steps: procedure.steps,
    gates: procedure.steps.filter((s) => s.kind === 'gate').map((s) => s.id),
    mutates: takesLock(procedure),
  };
}

export class RunbookInputError extends Error {
  override name = 'RunbookInputError';
}

/** Validates a runbook's specific input; errors name each bad field. */
export function parseRunbookInput(def: RunbookDefinition, input: unknown): Record<string, unknown> {
  const schema = def.input.extend({ retry });
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? `unknown input field(s) ${i.keys.join(', ')}`
        : `input.${i.path.join('.')}: ${i.message}`,
    );
    throw new RunbookInputError(`Invalid input for ${def.name}: ${lines.join('; ')}.`);
  }
  return parsed.data;
}

/** The JSON schema of a runbook's whole input, for `GET /runbooks` and the Temporal UI's start form. */
export function inputJsonSchema(def: RunbookDefinition): unknown {
  return z.toJSONSchema(
    def.input.extend({
      target: z.string().describe('Target name from the targets file'),
      initiator: z.string().optional(),
      dryRun: z.boolean().optional(),
      retry,
    }),
  );
}
