import { z } from 'zod';
import type { RunbookInput } from '../../contract/types.js';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'missingContainerFile',
  description:
    "A file the app needs is missing where it runs (FileNotFoundError): each of app.files checked in the container (docker exec) or the app's directory against its good copy, mounts that hide it; copy it in behind a gate (docker cp, or a local copy), restart the app, verify the file and /ready; the permanent fix (Dockerfile COPY, the volume) in the result.",
  input: z.strictObject({
    files: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Only these of app.files (as declared), e.g. the one the FileNotFoundError named.'),
  }),
});

/** The workflow's input: the fields every runbook takes (target, initiator, dryRun, retry) and this runbook's. */
export type MissingFileInput = RunbookInput & z.infer<typeof definition.input>;
