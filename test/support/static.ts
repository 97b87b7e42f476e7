import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';

/**
 * A small static web server for the PWA tests: serves `dir` under `basePath` (index.html for the
 * base itself), with the Cache-Control header the test chooses per file, as a CDN or nginx would.
 */
export async function serveStatic(
  dir: string,
  basePath: string,
  cacheControl: (file: string) => string | undefined,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const pathname = new URL(req.url ?? '/', 'http://x').pathname;
      if (!pathname.startsWith(basePath)) return res.writeHead(404).end('not found');
      const rel = pathname.slice(basePath.length) || 'index.html';
      if (rel.includes('..')) return res.writeHead(400).end();
      try {
        const body = await readFile(path.join(dir, rel));
        const cc = cacheControl(rel);
        res.writeHead(200, {
          'content-type': rel.endsWith('.json')
            ? 'application/json'
            : rel.endsWith('.html')
              ? 'text/html'
              : 'text/javascript',
          ...(cc ? { 'cache-control': cc } : {}),
        });
        res.end(body);
      } catch {
        res.writeHead(404).end('not found');
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
