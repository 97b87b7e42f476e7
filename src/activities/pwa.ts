import { ApplicationFailure } from '@temporalio/common';
import type { TargetRegistry, TargetSpec } from '../targets.js';
import { classifyNetError, type HttpErrorKind } from './app.js';
import { FailureType, targetSpec } from './errors.js';
import { runTargetCommand } from './services.js';

/**
 * The tenant PWA as browsers get it: the build version served, whether index.html and the service
 * worker script may be cached (a cached index.html keeps pointing at the old build), whether every
 * asset index.html references lives under VITE_BASE_PATH and answers. And the redeploy command.
 */

export interface Fetched {
  url: string;
  status: number | null;
  cacheControl: string | null;
  error?: { kind: HttpErrorKind; detail: string };
}

export interface PwaEvidence {
  base: string;
  version: Fetched & { value: string | null };
  index: Fetched & { revalidated: boolean };
  serviceWorker: Fetched & { revalidated: boolean };
  assets: Array<{ ref: string; url: string; underBase: boolean; status: number | null }>;
}

/** The scripts, styles, preloads and manifest an index.html references. Pure. */
export function assetRefs(html: string): string[] {
  const refs = new Set<string>();
  for (const m of html.matchAll(/<script\b[^>]*\bsrc=["']([^"']+)["']/gi)) refs.add(m[1]!);
  for (const m of html.matchAll(/<link\b[^>]*>/gi)) {
    const tag = m[0];
    const rel = /\brel=["']([^"']+)["']/i.exec(tag)?.[1]?.toLowerCase() ?? '';
    const href = /\bhref=["']([^"']+)["']/i.exec(tag)?.[1];
    if (href && /stylesheet|modulepreload|preload|manifest|icon/.test(rel)) refs.add(href);
  }
  return [...refs].filter((r) => !r.startsWith('data:'));
}

/** Whether a Cache-Control value makes browsers ask again each time (what index.html and sw.js need). Pure. */
export function revalidates(cacheControl: string | null): boolean {
  if (!cacheControl) return false; // heuristic caching applies without the header
  const cc = cacheControl.toLowerCase();
  if (/\bno-cache\b|\bno-store\b/.test(cc)) return true;
  const maxAge = /\bmax-age=(\d+)/.exec(cc);
  return maxAge !== null && Number(maxAge[1]) === 0;
}

export function createPwaActivities(targets: TargetRegistry, env: NodeJS.ProcessEnv = process.env) {
  function pwaOf(target: string): NonNullable<TargetSpec['pwa']> & { origin: string } {
    const spec = targetSpec(targets, target);
    if (!spec.pwa)
      throw ApplicationFailure.nonRetryable(
        `Target "${target}" has no pwa section in ${targets.file}: add pwa.basePath (VITE_BASE_PATH) and pwa.redeploy.`,
        FailureType.targetConfig,
      );
    return { ...spec.pwa, origin: spec.pwa.url ?? spec.app!.url };
  }

  async function get(url: string, timeoutMs: number): Promise<Fetched & { body: string }> {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { 'cache-control': 'no-cache' } });
      return { url, status: r.status, cacheControl: r.headers.get('cache-control'), body: await r.text() };
    } catch (err) {
      const e = classifyNetError(err);
      return { url, status: null, cacheControl: null, body: '', error: { kind: e.kind, detail: e.detail } };
    }
  }

  return {
    async pwaInspect(target: string): Promise<PwaEvidence> {
      const pwa = pwaOf(target);
      const base = new URL(pwa.basePath, pwa.origin).toString();
      const t = 10_000;
      const v = await get(new URL(pwa.versionPath, base).toString(), t);
      let value: string | null = null;
      try {
        const version = v.status === 200 ? (JSON.parse(v.body) as { version?: unknown }).version : undefined;
        value = typeof version === 'string' || typeof version === 'number' ? String(version) : null;
      } catch {
        /* not JSON: no version */
      }
      const index = await get(base, t);
      const sw = await get(new URL(pwa.serviceWorker, base).toString(), t);
      const assets: PwaEvidence['assets'] = [];
      if (index.status === 200) {
        for (const ref of assetRefs(index.body).slice(0, 50)) {
          const url = new URL(ref, base).toString();
          if (new URL(url).origin !== new URL(base).origin) continue; // a CDN's assets are not ours to judge
          const underBase = url.startsWith(base);
          const got = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(t) }).then(
            (r) => {
              void r.body?.cancel();
              return r.status;
            },
            () => null,
          );
          assets.push({ ref, url, underBase, status: got });
        }
      }
      const strip = ({ body: _b, ...f }: Fetched & { body: string }) => f;
      return {
        base,
        version: { ...strip(v), value },
        index: { ...strip(index), revalidated: revalidates(index.cacheControl) },
        serviceWorker: { ...strip(sw), revalidated: revalidates(sw.cacheControl) },
        assets,
      };
    },

    /** Runs the target's redeploy command (bounded, cancelled with the run). Its text never enters evidence. */
    async pwaRedeploy(target: string): Promise<{ exitCode: number | null; ms: number; output: string }> {
      const pwa = pwaOf(target);
      if (!pwa.redeploy)
        throw ApplicationFailure.nonRetryable(
          `Target "${target}" declares no pwa.redeploy command in ${targets.file}.`,
          FailureType.targetConfig,
        );
      const r = await runTargetCommand(targets, target, pwa.redeploy.command, pwa.redeploy.timeout, env);
      const output = r.output;
      if (r.timedOut || r.exitCode !== 0) {
        throw ApplicationFailure.nonRetryable(
          `The redeploy command of target "${target}" ${r.timedOut ? `did not finish within ${pwa.redeploy.timeout} and was killed` : `exited with ${r.exitCode}`}: the build served was not replaced by this run. Fix the build by hand (see its output) and run pwa-stale-cache again.${output ? `\nOutput:\n${output}` : ''}`,
          'RedeployFailed',
        );
      }
      return { exitCode: r.exitCode, ms: r.ms, output };
    },
  };
}
