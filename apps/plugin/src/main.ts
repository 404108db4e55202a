// `node dist/main.js`: the daemon on its own, as `buttervolume run` starts it.
import { runDaemon } from './daemon.js';

runDaemon().catch((error: unknown) => {
  process.stderr.write(`buttervolume: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
