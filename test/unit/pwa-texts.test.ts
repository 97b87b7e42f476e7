import { describe, expect, it } from 'vitest';
import type { PwaEvidence } from '../../src/activities/index.js';
import { healthySummary, redeployedSummary, servedLine } from '../../src/runbooks/pwa-stale-cache/texts.js';

const served = (version: string | null) =>
  ({ version: { value: version }, assets: [{}, {}], base: 'https://app/pos/' }) as unknown as PwaEvidence;

describe("pwa-stale-cache's texts", () => {
  it('says what is served against the expected version, or asks for one', () => {
    expect(servedLine(served('1.4.0'), '1.5.0')).toBe(
      'Served: version 1.4.0 (expected 1.5.0), 2 asset(s) checked under https://app/pos/.',
    );
    const unknown = servedLine(served(null), null);
    expect(unknown).toBe(
      'Served: version unknown (no expected version given: pass expectedVersion), 2 asset(s) checked under https://app/pos/.',
    );
    expect(healthySummary(unknown, null)).toContain(
      'Not checked: whether this is the right version (no expected version).',
    );
    expect(healthySummary(unknown, '1.5.0')).toHaveLength(2);
  });

  it('after the redeploy, tells users how they get the new build only when it is fixed', () => {
    const fixed = redeployedSummary({ fixed: true, after: served('1.5.0'), still: [], remaining: ['H'] }, ['L']);
    expect(fixed).toEqual([
      'Fixed: version 1.5.0 is served, with its 2 asset(s) under https://app/pos/.',
      'Still to fix by hand: H',
      'Users with the old service worker get the new build on their next navigation once sw.js is revalidated; a hard reload (or "Update on reload" in DevTools) forces it now.',
      'L',
    ]);
    const still = [{ cause: 'stale-build', detail: 'Still 1.4.0.' }] as never;
    expect(redeployedSummary({ fixed: false, after: served('1.4.0'), still, remaining: [] }, [])).toEqual([
      'Not fixed after the redeploy: Still 1.4.0.',
    ]);
  });
});
