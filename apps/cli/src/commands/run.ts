import { Command } from 'clipanion';
import type { CliContext } from '../context.js';
import { reportError } from '../errors.js';

export class RunCommand extends Command<CliContext> {
  static override paths = [['run']];
  static override usage = Command.Usage({
    description: 'run the daemon in the foreground',
    details: `
      Serves Docker's volume plugin protocol and buttervolume's own endpoints on the socket
      (\`BUTTERVOLUME_SOCKET\`, default /run/docker/plugins/btrfs.sock) and runs the scheduler.
      Configuration comes from BUTTERVOLUME_* variables, then /etc/buttervolume/config.ini
      (\`BUTTERVOLUME_CONFIG_FILE\`). Stops cleanly on SIGINT/SIGTERM.
    `,
    examples: [
      ['Run the daemon', '$0 run'],
      [
        'Run it on test paths',
        'BUTTERVOLUME_VOLUMES_PATH=/mnt/bv/volumes BUTTERVOLUME_SOCKET=/tmp/bv.sock $0 run',
      ],
    ],
  });

  async execute(): Promise<number> {
    try {
      // Loaded here, not at start-up: the other commands need none of the daemon's code.
      const { runDaemon } = await import('@buttervolume/plugin');
      await runDaemon();
      return 0;
    } catch (error) {
      return reportError(error, this.context, { json: false, command: 'run' });
    }
  }
}
