import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { docker, mountOver, parseInspect, parsePs, permanentFix } from '../../src/activities/containers.js';

const data = (f: string) => readFileSync(path.resolve(import.meta.dirname, '../fixtures/docker', f), 'utf8');

describe('the container driver (Docker CLI)', () => {
  it('reads docker inspect: state, image, workdir and mounts', () => {
    const c = parseInspect(data('inspect-app.json'));
    expect(c).toMatchObject({
      name: 'gestiq-app-1',
      running: true,
      status: 'running',
      image: 'registry.example.com/gestiq/api:2026.11.20',
      workdir: '/app',
    });
    expect(c.mounts).toEqual([
      { type: 'bind', source: '/srv/gestiq/uploads', destination: '/app/uploads' },
      { type: 'volume', source: '/var/lib/docker/volumes/gestiq_templates/_data', destination: '/app/templates' },
    ]);
    expect(() => parseInspect('[]')).toThrow('docker inspect returned no container');
  });

  it('reads docker ps --format json lines: a stopped worker is "exited"', () => {
    expect(parsePs(data('ps-all.jsonl'))).toEqual([
      {
        name: 'gestiq-app-1',
        state: 'running',
        status: 'Up 8 hours',
        ports: '0.0.0.0:8000->8000/tcp, :::8000->8000/tcp',
        image: 'registry.example.com/gestiq/api:2026.11.20',
      },
      {
        name: 'gestiq-worker-imports-1',
        state: 'exited',
        status: 'Exited (137) 2 hours ago',
        ports: '',
        image: 'registry.example.com/gestiq/api:2026.11.20',
      },
    ]);
  });

  it('finds the mount that hides a file (the seeds\' "a volume hides the new files"), the deepest first', () => {
    const { mounts } = parseInspect(data('inspect-app.json'));
    expect(mountOver(mounts, '/app/templates/factura.html')?.destination).toBe('/app/templates');
    expect(mountOver(mounts, '/app/templatesX/a')).toBeUndefined();
    expect(
      mountOver([...mounts, { type: 'bind', source: '/x', destination: '/app' }], '/app/uploads/a.csv')?.destination,
    ).toBe('/app/uploads');
  });

  it('builds the docker command lines', () => {
    expect(docker.cp('/srv/repo/templates/factura.html', 'gestiq-app-1', '/app/templates/factura.html')).toEqual([
      'docker',
      'cp',
      '/srv/repo/templates/factura.html',
      'gestiq-app-1:/app/templates/factura.html',
    ]);
    expect(docker.inspect('gestiq-app-1')).toEqual(['docker', 'inspect', '--type', 'container', 'gestiq-app-1']);
    expect(docker.sha256('gestiq-app-1', '/app/a.py')).toEqual([
      'docker',
      'exec',
      'gestiq-app-1',
      'sha256sum',
      '/app/a.py',
    ]);
  });

  it('names the permanent fix: a Dockerfile COPY, and the volume that hides the file', () => {
    const file = {
      path: 'templates/factura.html',
      where: 'gestiq-app-1:/app/templates/factura.html',
      present: false,
      differs: false,
      hiddenBy: 'volume gestiq_templates → /app/templates',
    };
    const fix = permanentFix({ url: 'http://x', container: { name: 'gestiq-app-1', workdir: '/app' } } as never, [
      file,
    ]);
    expect(fix).toContain('add `COPY templates/factura.html /app/…`');
    expect(fix).toContain(
      "templates/factura.html is under the mount volume gestiq_templates → /app/templates: the mounted directory hides the image's copy",
    );
    expect(permanentFix({ url: 'http://x', dir: '/srv/app' } as never, [{ ...file, hiddenBy: undefined }])).toBe(
      "Ship templates/factura.html with the app's deploy to /srv/app: it is missing from the deployed directory, so the next deploy would lose the copy made now.",
    );
  });
});
