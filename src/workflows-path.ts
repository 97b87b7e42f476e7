import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The workflows' entry (src/workflows/index.ts, or index.js in dist/ after `npm run build`), for
 * the worker and for what replays histories (the CLI's `runbook replay`), without loading the worker.
 */
export const workflowsPath = fileURLToPath(
  new URL(`./workflows/index${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);
