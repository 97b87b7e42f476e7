import { describe, expect, it } from 'vitest';
import { serviceEnv, serviceVars } from '../../src/cluster/services.js';

describe("the cluster processes' environment (one definition with docker-compose.yml)", () => {
  const all = Object.fromEntries([...serviceVars.worker, ...serviceVars.api].map((v) => [v, `value of ${v}`]));

  it('gives each role exactly its variables: the signing key to the API only, single sign-on when configured', () => {
    const worker = serviceEnv('worker', { ...all, RUNBOOK_OIDC_ISSUER: 'https://login.example.com' });
    expect(Object.keys(worker).sort()).toEqual([...serviceVars.worker].sort());
    expect(worker).not.toHaveProperty('RUNBOOK_DECISION_KEY');
    expect(worker).not.toHaveProperty('RUNBOOK_OIDC_ISSUER');
    const api = serviceEnv('api', { ...all, RUNBOOK_OIDC_ISSUER: 'https://login.example.com' });
    expect(api).toMatchObject({
      RUNBOOK_DECISION_KEY: 'value of RUNBOOK_DECISION_KEY',
      RUNBOOK_OIDC_ISSUER: 'https://login.example.com',
    });
    expect(api).not.toHaveProperty('RUNBOOK_DECISION_PUBLIC_KEY');
  });

  it('refuses to start a role with a variable missing, naming it', () => {
    const { RUNBOOK_STATE_DATABASE_URL: _dropped, ...rest } = all;
    expect(() => serviceEnv('api', rest)).toThrow(
      "The cluster's api needs RUNBOOK_STATE_DATABASE_URL, and it was not set.",
    );
  });
});
