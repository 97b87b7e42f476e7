import { condition, defineSignal, setHandler } from '@temporalio/workflow';

/** Trivial workflows for the cluster lane: they prove the server, not the runbooks. */

export async function greet(name: string): Promise<string> {
  return `hello, ${name}`;
}

export const release = defineSignal<[{ by: string }]>('release');

/** Parks until signalled: what a runbook at an approval gate looks like to the server. */
export async function parkedUntilReleased(): Promise<string> {
  let by: string | undefined;
  setHandler(release, (input) => void (by = input.by));
  await condition(() => by !== undefined);
  return `released by ${by}`;
}
