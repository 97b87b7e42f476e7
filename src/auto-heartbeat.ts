import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * Every activity with a heartbeat timeout (all of ours: src/engine/activity-options.ts)
 * heartbeats while it runs, whether or not its own code does. A worker killed mid-step then
 * stops heartbeating and the server retries the step elsewhere after the heartbeat timeout
 * (seconds), not after its start-to-close timeout (minutes).
 *
 * The beat re-sends the details the activity last sent itself (or, before it sent any, those of
 * the attempt before): the server keeps only the latest heartbeat's details and a retry resumes
 * from them (`Context.current().info.heartbeatDetails`), while a beat without details is encoded
 * as a null payload that replaces them — and sdk-core sends the latest details of each throttle
 * window, so an empty beat right after a progress beat would erase the progress.
 */
export function autoHeartbeatInterceptors(): ActivityInterceptorsFactory[] {
  return [
    (ctx) => ({
      inbound: {
        async execute(input, next) {
          const timeoutMs = ctx.info.heartbeatTimeoutMs;
          if (!timeoutMs) return next(input);
          const send = ctx.heartbeat;
          let last: unknown = ctx.info.heartbeatDetails;
          // The SDK types it read-only; it is a plain property that heartbeat() and Context.current() go through.
          // Interceptors listed after this one (chaos) wrap this wrapper: they see the activity's own beats only.
          (ctx as unknown as { heartbeat: (details?: unknown) => void }).heartbeat = (details?: unknown) => {
            last = details;
            send(details);
          };
          const timer = setInterval(() => send(last), beatEveryMs(timeoutMs));
          try {
            return await next(input);
          } finally {
            clearInterval(timer);
          }
        },
      },
    }),
  ];
}

/**
 * Four beats per heartbeat timeout: a beat delayed by a busy event loop or a slow server does not
 * time the step out. (sdk-core forwards at most one beat per throttle interval: createWorker caps
 * it with maxHeartbeatThrottleInterval so these reach the server.)
 */
export function beatEveryMs(heartbeatTimeoutMs: number): number {
  return Math.max(200, Math.floor(heartbeatTimeoutMs / 4));
}
