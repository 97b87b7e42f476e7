import { canListen, ephemeralLow, osFreePort } from '../../src/util/ports.js';

/**
 * Ports for the servers a test starts (web apps, dev servers, PostgreSQL clusters).
 *
 * Asking the OS for port 0 and closing it is not enough: the port is free only until someone
 * else takes it, and with two vitest workers, their servers and the outgoing connections of
 * everything (ephemeral ports) on one machine, two tests were once handed the same port. The
 * second app failed to bind, the first one answered for both, and a test judged the wrong
 * certificate. So each vitest worker takes ports from a block of its own below the ephemeral
 * range (no outgoing connection is given those), never hands out a port twice, and skips ports
 * something already listens on. Where the ephemeral range starts too low for that, it falls back
 * to the OS's choice.
 */

const BASE = 20_000;
const BLOCK = 1_000;
const handedOut = new Set<number>();

/** This process's block: vitest's pool id (1…workers) picks it; 0 is the main process (global setup, scripts). */
export function portBlock(
  poolId = Number(process.env.VITEST_POOL_ID ?? 0),
  low = ephemeralLow(),
): { from: number; to: number } | null {
  const blocks = Math.floor((low - BASE) / BLOCK);
  if (blocks < 2) return null;
  const from = BASE + (poolId % blocks) * BLOCK;
  return { from, to: from + BLOCK - 1 };
}

/** A TCP port on 127.0.0.1 that nobody listens on and that no other test in this run is given. */
export async function freePort(): Promise<number> {
  const block = portBlock();
  if (!block) {
    for (;;) {
      const port = await osFreePort();
      if (!handedOut.has(port)) return (handedOut.add(port), port);
    }
  }
  // A random start: a later test file in the same worker (a fresh module) does not retry the
  // ports of the one before, whose servers may still be stopping.
  const size = block.to - block.from + 1;
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const port = block.from + ((start + i) % size);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`No free port left in ${block.from}-${block.to}: are servers from earlier tests still running?`);
}
