import { readdir, readFile } from 'node:fs/promises';
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

/**
 * Waits (up to `ms`) until no process's command line mentions `text`: host B's sessions run in
 * this machine's pid namespace, so a remote step that outlives the local command (an ssh
 * session that started late and cleans up after itself) is seen here too.
 */
export async function untilNoProcessMentions(text: string, ms = 20_000): Promise<void> {
  const mentions = async () => {
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(text)) return true;
    }
    return false;
  };
  await until(
    `no process mentioning ${text}`,
    async () => ((await mentions()) ? undefined : true),
    ms,
  );
}
