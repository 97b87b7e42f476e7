import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

/** The bare baseline's workflow bundle (bench/bare/workflows.ts), written into `dir`; returns its path. */
export async function writeBareBundle(dir: string): Promise<string> {
  const file = path.join(dir, 'bare-bundle.js');
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(import.meta.dirname, 'workflows.ts'),
    logger: new DefaultLogger('ERROR'),
  });
  writeFileSync(file, code);
  return file;
}
