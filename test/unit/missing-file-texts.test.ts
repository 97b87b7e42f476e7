import { describe, expect, it } from 'vitest';
import type { FileState, HttpProbe } from '../../src/activities/index.js';
import { copiedSummary, describeFile, readyLine } from '../../src/runbooks/missing-container-file/texts.js';

const file = (over: Partial<FileState>) =>
  ({ path: '/app/fonts/a.ttf', where: 'gestiq-api', present: true, ...over }) as FileState;

describe("missing-container-file's texts", () => {
  it('says whether a file is missing or differs, and the mount that hides it', () => {
    expect(describeFile(file({ present: false, hiddenBy: '/app/fonts' }))).toBe(
      '/app/fonts/a.ttf is missing at gestiq-api (under the mount /app/fonts)',
    );
    expect(describeFile(file({ differs: true }))).toBe('/app/fonts/a.ttf differs from the good copy at gestiq-api');
  });

  it("shows the first line of a failing ready path's body, not of a succeeding one", () => {
    const failing = { path: '/ready', status: 500, body: 'FileNotFoundError: a.ttf\n  at …' } as HttpProbe;
    expect(readyLine(failing)).toBe('/ready: 500: FileNotFoundError: a.ttf.');
    expect(readyLine({ path: '/ready', status: 200, body: 'ok' } as HttpProbe)).toBe('/ready: 200.');
  });

  it('after the copy, names what is still wrong, or the ready path when every file is right', () => {
    const after = {
      files: [file({})],
      ready: { path: '/ready', status: null, error: { kind: 'refused' } } as HttpProbe,
    };
    expect(
      copiedSummary(
        { fixed: false, copied: [{ path: '/app/fonts/a.ttf' }], service: 'api', after, permanentFix: 'P' },
        [],
      ),
    ).toEqual([
      'Not fixed: after the copy and restart, /ready answers refused.',
      'Permanent fix (do it, or the next deploy loses the copy): P',
    ]);
  });
});
