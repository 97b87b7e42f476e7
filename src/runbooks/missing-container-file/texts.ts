import type { ContainerState, FileState, HttpProbe } from '../../activities/index.js';

/** missing-container-file's texts: where the files are, what is wrong with each, the gate's prompt, the summaries. */

const ok = (r: HttpProbe) => r.status !== null && r.status >= 200 && r.status < 300;

/** What is wrong with a file, and where. */
export function describeFile(f: FileState): string {
  const hidden = f.hiddenBy ? ` (under the mount ${f.hiddenBy})` : '';
  return `${f.path} ${!f.present ? 'is missing' : 'differs from the good copy'} at ${f.where}${hidden}`;
}

/** Where the files live: the container (with its state and image), or the app's directory. */
export function whereLine(container: ContainerState | undefined): string {
  return container
    ? `container ${container.name} (${container.status}, image ${container.image})`
    : "the app's directory";
}

/** The ready path's answer, with the first line of the body when it is not a success. */
export function readyLine(ready: HttpProbe): string {
  const answer = ready.error ? `${ready.error.kind} (${ready.error.detail})` : ready.status;
  const body = ready.body && !ok(ready) ? `: ${ready.body.split('\n')[0]}` : '';
  return `${ready.path}: ${answer}${body}.`;
}

export function healthySummary(where: string, ready: string): string[] {
  return [`Every declared file is present and matches its good copy in ${where}.`, ready];
}

export function badLines(bad: FileState[], ready: string): string[] {
  return [...bad.map((f) => `${describeFile(f)}.`), ready];
}

export function noSourceSummary(lines: string[], noSource: FileState[]): string[] {
  return [
    ...lines,
    `Nothing was changed: the good copy is missing on this host for ${noSource.map((f) => f.path).join(', ')} (app.files[].source).`,
  ];
}

export function stoppedContainerSummary(lines: string[], container: ContainerState): string[] {
  return [
    ...lines,
    `Nothing was changed: container ${container.name} is ${container.status}; docker cp into a stopped container is lost with it. Start it (connection-refused), then run this again.`,
  ];
}

export function noServiceSummary(lines: string[]): string[] {
  return [...lines, 'Nothing was changed: the target declares no app.service to restart after the copy.'];
}

export function copyPlan(bad: FileState[], where: string, service: string): string {
  return `copy ${bad.map((f) => f.path).join(', ')} into ${where}, then restart ${service}`;
}

export function dryRunSummary(lines: string[], plan: string, permanentFix: string): string[] {
  return ['Dry run: nothing was changed.', ...lines, `Would: ${plan}.`, `Permanent fix: ${permanentFix}`];
}

export function copyInPrompt(f: {
  target: string;
  bad: FileState[];
  plan: string;
  readyPath: string;
  permanentFix: string;
}) {
  return `${f.bad.length} file(s) the app needs on ${f.target} are wrong: ${f.bad.map(describeFile).join('; ')}. Plan: ${f.plan}; verify the files and ${f.readyPath}. This is a stopgap: ${f.permanentFix}`;
}

/** The summary after the copy and restart: fixed, or what is still wrong; and the permanent fix. */
export function copiedSummary(
  f: {
    fixed: boolean;
    copied: Array<{ path: string }>;
    service: string;
    after: { files: FileState[]; ready: HttpProbe };
    permanentFix: string;
  },
  lines: string[],
): string[] {
  const { files, ready } = f.after;
  const wrong =
    files
      .filter((x) => !x.present || x.differs)
      .map(describeFile)
      .join('; ') || `${ready.path} answers ${ready.error?.kind ?? ready.status}`;
  return [
    f.fixed
      ? `Fixed: ${f.copied.map((c) => c.path).join(', ')} copied in (sha256 checked), ${f.service} restarted, ${ready.path} ${ready.status}.`
      : `Not fixed: after the copy and restart, ${wrong}.`,
    ...lines,
    `Permanent fix (do it, or the next deploy loses the copy): ${f.permanentFix}`,
  ];
}
