import { createHmac, timingSafeEqual } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP server that records what webhooks post to it: the body parsed and as sent, and the headers. */
export async function startReceiver() {
  const received: Array<{ path: string; body: Record<string, unknown>; raw: string; headers: IncomingHttpHeaders }> =
    [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      received.push({
        path: req.url ?? '/',
        body: JSON.parse(data || '{}') as Record<string, unknown>,
        raw: data,
        headers: req.headers,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A receiver's check of a signed notification, as the README's "Notifications" shows it. */
export function verifyNotification(
  secret: string,
  headers: IncomingHttpHeaders,
  rawBody: string,
  nowS = Date.now() / 1000,
  toleranceS = 300,
): boolean {
  const timestamp = String(headers['x-runbook-timestamp'] ?? '');
  const signature = String(headers['x-runbook-signature'] ?? '');
  if (!/^\d+$/.test(timestamp) || Math.abs(nowS - Number(timestamp)) > toleranceS) return false;
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
