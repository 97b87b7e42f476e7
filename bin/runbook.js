#!/usr/bin/env node
// `npx runbook …` in the checkout: runs the TypeScript CLI through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
await main();
