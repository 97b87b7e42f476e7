import { z } from 'zod';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'janitor',
  description:
    'Removes what database runbooks leave behind: clones, scratch databases and fresh builds of ended runs at once; snapshots, kept databases and dumps after the target\'s backups.retention. Never anything of an open run; nothing is dropped before the "remove" gate is approved. dryRun lists.',
  input: z.strictObject({}),
});
