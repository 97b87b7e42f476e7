#!/usr/bin/env node
// `runbook …`: in a checkout, the TypeScript CLI through tsx (no build step, never a stale dist/);
// where the source is not shipped (the image, `npm run build` output alone), the compiled dist/cli.js.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli.ts', import.meta.url);
const compiled = new URL('../dist/cli.js', import.meta.url);
let cli;
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(source.href);
} else if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  console.error(
    'Neither src/cli.ts nor dist/cli.js is beside this script: run `npm run build`, or run it from a checkout.',
  );
  process.exit(1);
}
await cli.main();
