import { z } from 'zod';
import { retrySqlRefusal } from './util/sql-statement.js';

/**
 * The runbook catalogue: what the API lists, the CLI starts and the client validates.
 * Each entry's input schema is the single source for validation, `GET /runbooks` and the docs.
 */

const retry = z
  .strictObject({
    initialInterval: z.string().regex(/^\d+(\.\d+)?\s*(ms|milliseconds?|s|seconds?|m|minutes?)$/, 'a duration such as "2 seconds"').optional(),
    maximumAttempts: z.number().int().min(1).max(20).optional(),
    activityTimeout: z.string().regex(/^\d+(\.\d+)?\s*(s|seconds?|m|minutes?)$/, 'a duration such as "30 seconds"').optional(),
    heartbeatTimeout: z.string().regex(/^\d+(\.\d+)?\s*(s|seconds?|m|minutes?)$/, 'a duration such as "10 seconds"').optional(),
    scheduleToStartTimeout: z.string().regex(/^\d+(\.\d+)?\s*(s|seconds?|m|minutes?)$/, 'a duration such as "5 minutes"').optional(),
  })
  .optional()
  .describe('Retry policy of each step (bounded). For tests and slow networks.');

export interface RunbookDefinition {
  name: string;
  workflowType: string;
  description: string;
  /** Runbooks that change a target take its lock and have gates; read-only ones do not. */
  mutates: boolean;
  gates: string[];
  /** Runbook-specific input, beside the common target/initiator/dryRun/retry. */
  input: z.ZodObject;
}

export const catalogue: RunbookDefinition[] = [
  {
    name: 'approval-drill',
    workflowType: 'approvalDrill',
    description: 'Touches nothing: one gate "proceed" (four-eyes, one approval), then a step that records the decision. For on-call training and for checking the approval path end to end.',
    mutates: false,
    gates: ['proceed'],
    input: z.strictObject({
      prompt: z.string().max(500).optional().describe('What the gate asks (default: a drill prompt naming the target).'),
      takeLock: z.boolean().optional().describe("Hold the target's lock while waiting, as changing runbooks do."),
    }),
  },
  {
    name: 'connection-refused',
    workflowType: 'connectionRefused',
    description:
      "The app's port refuses connections: TCP probe, the service's state, the compose file's port mapping (missing or wrong → the fix), then recreate the service behind a gate (docker compose up -d --force-recreate, or the target's restart driver) and verify the port answers and the app is ready.",
    mutates: true,
    gates: ['force-recreate'],
    input: z.strictObject({}),
  },
  {
    name: 'db-access',
    workflowType: 'dbAccess',
    description:
      'Can we reach the database? select 1 with latency, server version, connections in use against max_connections, the applied alembic revision against the code\'s heads, long transactions and blocking locks. Read-only.',
    mutates: false,
    gates: [],
    input: z.strictObject({
      longTransactionSeconds: z.number().int().min(1).optional().describe('Report transactions open longer than this (default 300).'),
    }),
  },
  {
    name: 'einvoicing-failed',
    workflowType: 'einvoicingFailed',
    description: "E-invoices fail to emit: the signing certificate (PKCS#12 via openssl pkcs12, -legacy for older files: expiry, key), the provider environment (sandbox/prod) against the expected one, invoices / invoices_temp by estado, the app's app.einvoicing lines; retry the failed ones through the app behind a gate, one Idempotency-Key per invoice (not offered while the certificate or environment would make it fail again); verify the counts moved.",
    mutates: true,
    gates: ['retry-emission'],
    input: z.strictObject({}),
  },
  {
    name: 'janitor',
    workflowType: 'janitor',
    description: "Removes what database runbooks leave behind: clones, scratch databases and fresh builds of ended runs at once; snapshots, kept databases and dumps after the target's backups.retention. Never anything of an open run; nothing is dropped before the \"remove\" gate is approved. dryRun lists.",
    mutates: false,
    gates: ['remove'],
    input: z.strictObject({}),
  },
  {
    name: 'login-errors',
    workflowType: 'loginErrors',
    description: "Logins fail (5xx, cookies not kept, CORS): a bad-credentials and a good login, the session cookie judged as browsers do (Domain vs COOKIE_DOMAIN, Secure, SameSite, HttpOnly), CORS preflight from each front-end origin, the certificate, RATE_LIMIT_ENABLED and RateLimitMiddleware lines, the 401/403 share against 5%; the target's named remediations for what was found, behind a gate; verified.",
    mutates: true,
    gates: ['remediate'],
    input: z.strictObject({
      window: z.string().regex(/^\d+\s*(ms|s|m|h)$/, 'a duration such as 60s').optional().describe("The window the 401/403 share is measured over (default: the target's login.authFailures.window, 60s)."),
    }),
  },
  {
    name: 'migration-failed',
    workflowType: 'migrationFailed',
    description:
      'Repairs a failed alembic migration: freeze writes, undo point (snapshot + verified dump), the downgrade to the pre-release revision rehearsed on a clone and checked against a fresh build, leftovers dropped, or the pre-release state restored (showing the rows it would lose); every change behind a gate; ends asking for the root cause.',
    mutates: true,
    gates: ['freeze-writes', 'downgrade', 'restore', 'reapply'],
    input: z.strictObject({
      toRevision: z.string().regex(/^[A-Za-z0-9_]+$/, 'an alembic revision id').optional().describe("The last good revision (default: the pre-release revision release-migration recorded for this target)."),
      backup: z.string().min(1).optional().describe("A pg_dump file or directory (custom, directory or plain SQL) to restore from if the downgrade cannot repair: inside the target's backups.dir, as an absolute path or a name relative to it."),
      reapply: z.boolean().optional().describe('After the repair, upgrade to head again (once the cause is fixed).'),
      rootCauseDeadline: z.string().regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 30m, 24h').optional().describe('How long the run waits for the root-cause note (default 24h).'),
    }),
  },
  {
    name: 'missing-container-file',
    workflowType: 'missingContainerFile',
    description: "A file the app needs is missing where it runs (FileNotFoundError): each of app.files checked in the container (docker exec) or the app's directory against its good copy, mounts that hide it; copy it in behind a gate (docker cp, or a local copy), restart the app, verify the file and /ready; the permanent fix (Dockerfile COPY, the volume) in the result.",
    mutates: true,
    gates: ['copy-in'],
    input: z.strictObject({
      files: z.array(z.string().min(1)).min(1).optional().describe('Only these of app.files (as declared), e.g. the one the FileNotFoundError named.'),
    }),
  },
  {
    name: 'observability-check',
    workflowType: 'observabilityCheck',
    description: "Is the app observable? /ready; the metrics endpoint exposes the seeds' key metrics (auth 401/403, imports failed/pending, payment attempts vs errors, e-invoicing failures/latency); a request id sent in is echoed and found in the app's logs. Read-only.",
    mutates: false,
    gates: [],
    input: z.strictObject({}),
  },
  {
    name: 'payments-failed',
    workflowType: 'paymentsFailed',
    description: "Payments fail (Stripe/Payphone/Kushki): per provider the mode (sandbox/live) against the expected one, its webhook endpoint answering 2xx to a correctly signed test event and 4xx to a badly signed one (Stripe's scheme via the stripe package, HMAC for the others), attempts by provider and status, the app's failed webhook events; re-drive them behind a gate, each keyed by its event id (never a second charge); verify they were processed.",
    mutates: true,
    gates: ['redrive'],
    input: z.strictObject({}),
  },
  {
    name: 'pwa-stale-cache',
    workflowType: 'pwaStaleCache',
    description: "Users see an old tenant PWA: the build version served vs the expected one, Cache-Control of index.html and the service worker, every asset index.html references under VITE_BASE_PATH and answering; rebuild/redeploy behind a gate through the target's command; verify the new version is served. Header problems are reported, not 'fixed'.",
    mutates: true,
    gates: ['redeploy'],
    input: z.strictObject({
      expectedVersion: z.string().min(1).max(100).optional().describe("The version that should be served (default: the target's pwa.expectedVersion)."),
      verifyDeadline: z.string().regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 2m').optional().describe('How long to wait for the new build after the redeploy (default 2m).'),
    }),
  },
  {
    name: 'release-migration',
    workflowType: 'releaseMigration',
    description:
      "Runs a release's migrations so a failure is a one-second rollback: freeze writes (targets that declare it), pre-release snapshot and verified dump, the upgrade rehearsed on a clone, then applied behind a gate; smoke checks; on failure, swap the snapshot back in behind a gate.",
    mutates: true,
    gates: ['freeze-writes', 'upgrade', 'rollback'],
    input: z.strictObject({
      toRevision: z.string().regex(/^[A-Za-z0-9_]+$/, 'an alembic revision id or "head"').optional().describe('Revision to upgrade to (default: head).'),
    }),
  },
  {
    name: 'schema-drift',
    workflowType: 'schemaDrift',
    description:
      "Detects drift between the database and the app's models (alembic autogenerate, in a scratch copy of the app's tree); if any: undo point, the generated revision (never a drop) rehearsed on a clone, applied behind a gate, verified, the failing operation retried; the file is handed back and the run ends when its commit is confirmed.",
    mutates: true,
    gates: ['apply-revision', 'confirm-commit'],
    input: z.strictObject({
      retrySql: z.string().min(1).max(5000)
        .superRefine((sql, ctx) => {
          const why = retrySqlRefusal(sql);
          if (why) ctx.addIssue({ code: 'custom', message: why });
        })
        .optional()
        .describe("The one statement that was failing, retried after the repair as the target's app role (postgres.appUser, never a superuser) in a transaction that is always rolled back. Not several statements, not transaction control."),
      retryHttp: z.url().optional().describe('The HTTP request (GET) that was failing, retried after the repair.'),
      commitDeadline: z.string().regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 30m, 7d').optional().describe('How long to wait for the commit id of the generated revision (default 7d).'),
    }),
  },
  {
    name: 'stuck-imports',
    workflowType: 'stuckImports',
    description:
      "Stuck Celery/Redis imports: evidence (IMPORTS_ENABLED from the worker's start-up lines, liveness, Redis queue depth and imports:* keys, counts by status, row locks), a diagnosis, then only the remedies it calls for behind a gate (stale locks, blocking sessions, re-enqueue each stuck item once with a ledger; with retryFailed, each failed item once), a worker restart behind its own gate (first, when the broker lost its data and the queue's binding), and verification that the items move.",
    mutates: true,
    gates: ['remediate', 'restart-worker'],
    input: z.strictObject({
      stuckAfter: z.string().regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 15m').optional().describe("Items waiting longer than this are stuck (default: the target's imports.stuckAfter)."),
      verifyDeadline: z.string().regex(/^\d+\s*(ms|s|m|h|d)$/, 'a duration such as 10m').optional().describe('How long to wait for the stuck items to move (default 10m).'),
      batchSize: z.number().int().min(1).max(10000).optional().describe('Items re-enqueued per batch (default 1000).'),
      retryFailed: z.boolean().optional().describe("Also retry the items in a failed status (the target's imports.failed), each once ever, through the re-enqueue ledger, behind the remediate gate (default false)."),
    }),
  },
];

export class RunbookInputError extends Error {
  override name = 'RunbookInputError';
}

export function findRunbook(name: string): RunbookDefinition {
  const def = catalogue.find((r) => r.name === name);
  if (!def) throw new RunbookInputError(`Unknown runbook "${name}" (known: ${catalogue.map((r) => r.name).join(', ')}).`);
  return def;
}

/** Validates a runbook's specific input; errors name each bad field. */
export function parseRunbookInput(def: RunbookDefinition, input: unknown): Record<string, unknown> {
  const schema = def.input.extend({ retry });
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys' ? `unknown input field(s) ${i.keys.join(', ')}` : `input.${i.path.join('.')}: ${i.message}`,
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
