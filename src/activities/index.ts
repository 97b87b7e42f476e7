import type { TargetRegistry } from '../targets.js';
import { createAlembicActivities } from './alembic.js';
import { createPostgresActivities } from './postgres.js';
import { createTargetActivities } from './target.js';

export interface ActivityDeps {
  targets: TargetRegistry;
}

/** The one place activities get their clients: the worker and the tests pass real ones here. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createTargetActivities(deps.targets),
    ...createPostgresActivities(deps.targets),
    ...createAlembicActivities(deps.targets),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { TargetInfo } from '../targets.js';
export type * from './postgres.js';
export type * from './alembic.js';
