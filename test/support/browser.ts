import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium, headless, driven by playwright-core: the browser of the console tests. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
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
}

export interface SignInOptions {
  viewport?: { width: number; height: number };
  deviceScaleFactor?: number;
  /** Before the console loads: a route to slow down, say (`page.route`). */
  before?: (page: Page) => Promise<unknown>;
}

/** A fresh browser context on the console, signed in with `token` as `person` (the header shows "person ("). */
export async function consoleSignedIn(
  browser: Browser,
  base: string,
  person: string,
  token: string,
  opts: SignInOptions = {},
): Promise<Page> {
  const context = await browser.newContext({
    viewport: opts.viewport ?? { width: 1200, height: 900 },
    ...(opts.deviceScaleFactor ? { deviceScaleFactor: opts.deviceScaleFactor } : {}),
  });
  const page = await context.newPage();
  await opts.before?.(page);
  await page.goto(`${base}/console/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`${person} (`).waitFor();
  return page;
}
