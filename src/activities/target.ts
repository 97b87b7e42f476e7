import type { TargetInfo, TargetRegistry } from '../targets.js';
import { targetFailure } from './errors.js';

export function createTargetActivities(targets: TargetRegistry) {
  return {
    /** What a workflow may know of its target (names, hosts, routing; no secrets). */
    async describeTarget(target: string): Promise<TargetInfo> {
      try {
        targets.checkSecrets(target);
        return targets.info(target);
      } catch (err) {
        return targetFailure(err);
      }
    },
  };
}
