import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { TargetRegistry } from '../targets.js';
import { createLockActivities } from './locks.js';
import { createAlembicActivities } from './alembic.js';
import { createAppActivities } from './app.js';
import { createContainerActivities } from './containers.js';
import { createPwaActivities } from './pwa.js';
import { createLoginActivities } from './login.js';
import { createEinvoicingActivities } from './einvoicing.js';
import { createPaymentsActivities } from './payments.js';
import { createDatabaseActivities } from './databases.js';
import { createDrillActivities } from './drill.js';
import { createPgToolActivities } from './pgtools.js';
import { createPreflightActivities } from './preflight.js';
import { createImportsActivities } from './imports.js';
import { createServiceActivities } from './services.js';
import { createSmokeActivities } from './smoke.js';
import { createCheckActivities } from './checks.js';
import { createGateActivities } from './gates.js';
import { createNotifyActivities, type Links } from './notify.js';
import { createPostgresActivities } from './postgres.js';
import { createRedisActivities } from './redis.js';
import { createRetrySqlActivities } from './retry-sql.js';
import { createRunFileActivities } from './run-files.js';
import { createTargetActivities } from './target.js';

export interface ActivityDeps {
  targets: TargetRegistry;
  /** For the target lock: a Temporal client (created lazily) and the queue lock workflows run on. */
  temporal?: () => Promise<Client>;
  lockTaskQueue?: string;
  /** Verifies the API's signed decisions (hex Ed25519 public key); not a secret. */
  decisionPublicKey?: string;
  links?: Links;
  /** Where dumps go when a target names no backups.dir (default .data). */
  dataDir?: string;
}

/** The one place activities get their clients: the worker and the tests pass real ones here. */
export function createActivities(deps: ActivityDeps) {
  const temporal =
    deps.temporal ??
    (() =>
      Promise.reject(
        new Error('This worker has no Temporal client for target locks, escalations and scheduled admissions.'),
      ));
  const links = deps.links ?? {
    api: 'http://127.0.0.1:8080',
    temporalUi: 'http://127.0.0.1:8233',
    namespace: 'default',
  };
  return {
    ...createTargetActivities(deps.targets),
    ...createPostgresActivities(deps.targets),
    ...createAlembicActivities(deps.targets, deps.dataDir ?? '.data'),
    ...createDatabaseActivities(deps.targets),
    ...createRetrySqlActivities(deps.targets),
    ...createPgToolActivities(deps.targets, deps.dataDir ?? '.data'),
    ...createSmokeActivities(deps.targets),
    ...createServiceActivities(deps.targets, process.env, {
      ledgerDir: path.join(deps.dataDir ?? '.data', 'step-ledgers'),
    }),
    ...createImportsActivities(deps.targets),
    ...createRedisActivities(deps.targets),
    ...createAppActivities(deps.targets),
    ...createContainerActivities(deps.targets),
    ...createPwaActivities(deps.targets),
    ...createLoginActivities(deps.targets),
    ...createEinvoicingActivities(deps.targets),
    ...createPaymentsActivities(deps.targets),
    ...createPreflightActivities(deps.targets),
    ...createGateActivities(deps.targets, deps.decisionPublicKey, temporal),
    ...createNotifyActivities(deps.targets, links),
    ...createCheckActivities(deps.targets, temporal, deps.lockTaskQueue ?? 'runbooks', links),
    ...createDrillActivities(),
    ...createRunFileActivities(deps.dataDir ?? '.data'),
    ...createLockActivities(temporal, deps.lockTaskQueue ?? 'runbooks'),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { TargetInfo } from '../targets.js';
export type * from './postgres.js';
export type * from './alembic.js';
export type * from './databases.js';
export type * from './pgtools.js';
export type * from './redis.js';
export type { SmokeResult } from './smoke.js';
export type { ServiceEvidence, ServiceStatus, ServiceAction } from './services.js';
export type {
  ImportsDbEvidence,
  ImportsRedisEvidence,
  ImportsWorkerEvidence,
  QueueCheck,
  ReenqueueResult,
} from './imports.js';
export type { Admission, AdmitRequest, GatePolicyDefaults } from './gates.js';
export type { TcpProbe, HttpProbe, MetricsEvidence, RequestTrace } from './app.js';
export type { PortCheck } from '../util/compose-ports.js';
export type { ContainerState, FileState } from './containers.js';
export type { PwaEvidence } from './pwa.js';
export type { LoginEvidence, AuthSample, AuthShare, CookieCheck, PreflightCheck, LoginProbe } from './login.js';
export type { TlsEvidence } from './http.js';
export type { PaymentsEvidence, ProviderEvidence, RedriveOutcome, WebhookProbe } from './payments.js';
export type { EinvoicingEvidence, InvoiceCounts, RetryOutcome, CertificateEvidence } from './einvoicing.js';
export type { NotifyEvent } from './notify.js';
export type { CheckFinding, FindingReport } from './checks.js';
export type { RunFiles } from './run-files.js';
export type { TargetCheck } from './preflight-checks.js';
