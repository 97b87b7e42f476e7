import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AesGcmCodec } from '../src/codec.js';
import type { DevServer } from '../src/temporal/devserver.js';
import { privateDevServer } from './support/temporal.js';
import { apiWithDevTokens } from './support/api.js';
import { finished, gateOpened, historyText, startRig, writeTargets, type TestRig } from './support/harness.js';
import { freePort } from './support/ports.js';
import { registerSecrets } from './support/secrets.js';

// The real Temporal UI (the one in the temporal CLI, started with --ui-codec-endpoint pointing at
// our API) in a real browser, payloads encrypted: bob signs in to the console, sets the UI's codec
// to send credentials (the one-time browser setting the README describes), reads the run's
// decrypted input in the UI and approves its gate with "Send a Signal". The UI encodes that signal
// through our codec; the history holds ciphertext. Once he signs out, and in a browser never
// signed in, the UI decrypts nothing and cannot send an encoded signal.
describe('approving an encrypted run from the Temporal UI', () => {
  const key = randomBytes(32);
  const codec = new AesGcmCodec('ui1', new Map([['ui1', key]]));
  let server: DevServer;
  let rig: TestRig;
  let api: FastifyInstance;
  let tokens: Record<'alice' | 'bob' | 'carol', string>;
  let browser: Browser;
  let ui: string;
  let apiBase: string;
  const refused: string[] = [];

  beforeAll(async () => {
    registerSecrets('payload key', key.toString('hex'));
    const apiPort = await freePort();
    const uiPort = await freePort();
    apiBase = `http://127.0.0.1:${apiPort}`;
    ui = `http://127.0.0.1:${uiPort}`;
    server = await privateDevServer({
      cli: inject('temporalCli'),
      port: await freePort(),
      uiPort,
      extraArgs: ['--ui-codec-endpoint', `${apiBase}/codec`],
    });
    rig = await startRig(writeTargets({ 'ui-drill': { policy: { unsignedDecisions: 'allow' } } }), {
      address: server.address,
      dataConverter: { payloadCodecs: [codec] },
    });
    ({ api, tokens } = await apiWithDevTokens(rig.client, { codec, codecOrigins: [ui] }));
    // What the API refused, so a refusal seen in the UI is known to be ours (not an unreachable codec).
    api.addHook('onResponse', async (req, reply) => {
      if (reply.statusCode === 401 && req.url.startsWith('/codec/')) refused.push(req.url);
    });
    await api.listen({ host: '127.0.0.1', port: apiPort });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await rig?.stop();
    await server?.stop();
  });

  async function drill(marker: string): Promise<{ id: string; runId: string }> {
    const { id } = await rig.client.start('approval-drill', {
      target: 'ui-drill',
      initiator: 'alice',
      input: { prompt: `Drill ${marker} on ui-drill` },
    });
    await gateOpened(rig.client, id, 'proceed');
    const runId = (await rig.client.temporal.workflow.getHandle(id).describe()).runId;
    return { id, runId };
  }

  /** The UI's Codec Server settings: this browser's endpoint, with cross-origin credentials. */
  async function useCodecWithCredentials(page: Page): Promise<void> {
    await page
      .getByRole('button', { name: /^Codec Server/ })
      .first()
      .click();
    await page.getByText('Use Cluster-level setting, where available.').first().click(); // the accordion
    await page.getByText('Use my browser setting and ignore Cluster-level setting.').last().click();
    await page.getByLabel('Codec Server browser endpoint').fill(`${apiBase}/codec`);
    // The panel scrolls under the UI's sticky top bar, which takes the mouse's clicks: use the keyboard.
    const credentials = page.getByLabel('Include cross-origin credentials');
    await credentials.press('Space');
    expect(await credentials.isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Apply' }).press('Enter');
    await page.getByLabel('Codec Server browser endpoint').waitFor({ state: 'hidden' });
    await page.reload(); // the page decodes what it shows again, now with credentials
  }

  async function sendDecide(page: Page, decision: object, decoded: boolean): Promise<void> {
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
    const dialog = page.getByTestId('signal-confirmation-modal').filter({ visible: true }); // the page holds two copies, one hidden
    // With the run's metadata decoded the UI lists its signals (the SDK reports its handlers); without, it asks for the name.
    if (decoded) {
      await dialog.getByTestId('signal-select-button').click();
      await page.getByRole('option', { name: 'decide', exact: true }).click();
    } else {
      await dialog.locator('#signal-name').fill('decide');
    }
    await dialog.locator('.cm-content').fill(JSON.stringify(decision));
    await dialog.getByRole('button', { name: 'Submit' }).press('Enter'); // a mouse click right after typing in the editor is lost
  }

  async function uiPage(context: BrowserContext, run: { id: string; runId: string }): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${ui}/namespaces/default/workflows/${encodeURIComponent(run.id)}/${run.runId}/history`);
    return page;
  }

  it(
    'bob, signed in to the console, reads the decrypted run in the UI and approves it with an encoded signal',
    { timeout: 180_000 },
    async () => {
      const MARKER = `ui-${randomBytes(4).toString('hex')}`;
      const run = await drill(MARKER);
      const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
      try {
        const consolePage = await context.newPage();
        await consolePage.goto(`${apiBase}/console/`);
        await consolePage.getByLabel('API token').fill(tokens.bob);
        await consolePage.getByRole('button', { name: 'Sign in' }).click();
        await consolePage.getByText('bob (').waitFor();

        const page = await uiPage(context, run);
        await useCodecWithCredentials(page);
        await page.getByText(MARKER).first().waitFor({ timeout: 30_000 }); // the input, decrypted by our codec

        await sendDecide(
          page,
          { gate: 'proceed', decision: 'approve', by: 'bob', roles: ['approver'], comment: `from the UI ${MARKER}` },
          true,
        );
        await page.getByText('Workflow signaled.').waitFor();
        const done = await finished(rig.client, run.id);
        expect(done.status).toBe('completed');
        expect(done.result).toMatchObject({ findings: { approvedBy: ['bob'], channels: ['signal'] } });
        const text = await historyText(rig.client, run.id);
        expect(text).not.toContain(MARKER); // neither the input nor the UI's signal is readable in the history
        expect(text).not.toContain('from the UI');

        // Signing out of the console closes the session: the UI reads ciphertext again.
        await consolePage.getByRole('button', { name: 'Sign out' }).click();
        await consolePage.getByLabel('API token').waitFor();
        await page.reload();
        await page.getByRole('button', { name: 'Codec Server could not connect' }).first().waitFor({ timeout: 30_000 });
        expect(await page.getByText(MARKER).count()).toBe(0);
      } finally {
        await context.close();
      }
    },
  );

  it(
    'a browser not signed in to the console sees no plaintext and its signal is not sent',
    { timeout: 180_000 },
    async () => {
      const MARKER = `anon-${randomBytes(4).toString('hex')}`;
      const run = await drill(MARKER);
      const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
      try {
        const page = await uiPage(context, run);
        await useCodecWithCredentials(page);
        await page.getByRole('button', { name: 'Codec Server could not connect' }).first().waitFor({ timeout: 30_000 });
        expect(await page.getByText(MARKER).count()).toBe(0);
        expect(refused).toContain('/codec/decode'); // reached, and refused: not signed in

        refused.length = 0;
        await sendDecide(page, { gate: 'proceed', decision: 'approve', by: 'bob', roles: ['approver'] }, false);
        await page
          .getByTestId('signal-confirmation-modal')
          .filter({ visible: true })
          .getByText('Data encoding failed')
          .waitFor();
        expect(refused).toContain('/codec/encode'); // our API refused it: no session
        const status = await rig.client.status(run.id);
        expect(status.pendingGates.map((g) => g.gate)).toEqual(['proceed']); // nothing reached the run
        await rig.client.abort(run.id, 'alice', 'codec UI test: unsigned-in browser');
      } finally {
        await context.close();
      }
    },
  );
});
