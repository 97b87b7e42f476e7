/**
 * Our processes in production, one definition for `npm run cluster` and docker-compose.yml: the
 * command each runs and the variables it reads. test/compose.test.ts checks that the compose file
 * runs these commands with these variables, so the cluster lane exercises what compose would run.
 */

export type Role = 'worker' | 'api';

/** Compiled JavaScript (`npm run build`), no tsx at run time; a host worker adds `--task-queue <queue>`. */
export const serviceCommand: Record<Role, string[]> = {
  worker: ['node', 'dist/worker.js'],
  api: ['node', 'dist/api/main.js'],
};

/** How both reach Temporal (src/temporal/connection.ts). */
const temporalVars = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TLS_CA',
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_UI_URL',
] as const;

/**
 * The variables each role is given (besides each target's passwordEnv on the worker). The API holds
 * the decision-signing key, the worker only its public half; both encrypt payloads.
 */
export const serviceVars: Record<Role, readonly string[]> = {
  worker: [
    ...temporalVars,
    'RUNBOOK_TARGETS',
    'RUNBOOK_DATA_DIR',
    'RUNBOOK_PAYLOAD_KEY',
    'RUNBOOK_DECISION_PUBLIC_KEY',
    'RUNBOOK_PUBLIC_URL',
  ],
  api: [
    ...temporalVars,
    'RUNBOOK_TARGETS',
    'RUNBOOK_PAYLOAD_KEY',
    'RUNBOOK_DECISION_KEY',
    'RUNBOOK_API_HOST',
    'RUNBOOK_API_PORT',
    'RUNBOOK_API_TOKENS',
    'RUNBOOK_STATE_DATABASE_URL',
    'RUNBOOK_PUBLIC_URL',
    'RUNBOOK_CODEC_ORIGINS',
  ],
};

/** Passed to the API when set (single sign-on; README, "Single sign-on"). */
export const optionalApiVars = [
  'RUNBOOK_OIDC_ISSUER',
  'RUNBOOK_OIDC_CLIENT_ID',
  'RUNBOOK_OIDC_CLIENT_SECRET',
  'RUNBOOK_OIDC_AUDIENCE',
  'RUNBOOK_OIDC_ROLES',
  'RUNBOOK_OIDC_ROLES_CLAIM',
  'RUNBOOK_OIDC_NAME_CLAIM',
  'RUNBOOK_OIDC_PROVIDER_NAME',
] as const;

/** Passed to both when set: traces to an OpenTelemetry collector (README, "Traces"); each role keeps its own service name. */
export const optionalTracingVars = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
] as const;

/** `values` limited to the role's variables; a variable the role reads but `values` lacks is an error (a typo here would start a half-configured process). */
export function serviceEnv(role: Role, values: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of serviceVars[role]) {
    const value = values[name];
    if (value === undefined) throw new Error(`The cluster's ${role} needs ${name}, and it was not set.`);
    env[name] = value;
  }
  if (role === 'api') for (const name of optionalApiVars) if (values[name]) env[name] = values[name];
  return env;
}
