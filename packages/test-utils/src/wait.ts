import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Asks `probe` every 300 ms until it answers something other than undefined, and returns that;
 * throws naming `what` after `ms`. For state that settles on its own (a swarm task, a replica).
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 90_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${what}`);
}
