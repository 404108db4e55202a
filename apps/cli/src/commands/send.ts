import type { ButtervolumeClient, SendResponse, Transfer } from '@buttervolume/api';
import { volumeOf } from '@buttervolume/names';
import { parsePolicy } from '@buttervolume/retention';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';
import { purgeReport } from './purge.js';

const POLL_MS = 500;

export function progressLine(transfer: Transfer): string {
  return (
    `sending ${transfer.Snapshot} to ${transfer.Host}: ${formatBytes(transfer.Bytes)}, ` +
    `${formatRate(transfer.RateBytesPerSec)}, ${formatDuration(transfer.ElapsedMs)}`
  );
}

export function sendSummary(answer: SendResponse, snapshot: string, host: string): string {
  if (answer.AlreadyPresent) return `${host} already holds ${snapshot}: nothing sent`;
  const how = answer.Incremental ? `incremental from ${answer.Parent}` : 'full';
  const rate =
    answer.DurationMs > 0 ? `, ${formatRate((answer.Bytes * 1000) / answer.DurationMs)}` : '';
  return (
    `Sent ${snapshot} to ${host} (${how}): ${formatBytes(answer.Bytes)} in ` +
    `${formatDuration(answer.DurationMs)}${rate}`
  );
}

export class SendCommand extends DaemonCommand {
  static override paths = [['send']];
  static override usage = Command.Usage({
    description: 'send a snapshot to another host (btrfs send/receive over ssh)',
    details: `
      Incremental from the newest snapshot that host is known to hold (its send marker),
      full when there is none or the incremental fails. On a terminal, shows progress.
      The port is \`SSH_PORT\`; the host must accept root's ssh key. \`--purge <policy>\`
      then applies a retention pattern or calendar policy to the host's copies of the volume
      (as \`purge --host\`), keeping the one the next incremental send starts from.
    `,
    examples: [
      ['Send a snapshot to backup-1', '$0 send backup-1 pgdata@2026-11-24T19:13:40.123456'],
      ['Force a full send', '$0 send --full backup-1 pgdata@2026-11-24T19:13:40.123456'],
      [
        'Send, then keep a week of daily copies on backup-1',
        '$0 send --purge daily=7 backup-1 pgdata@2026-11-24T19:13:40.123456',
      ],
    ],
  });

  host = Option.String({ name: 'host' });
  snapshot = Option.String({ name: 'snapshot' });
  full = Option.Boolean('--full', false, { description: 'Send everything, not only the changes' });
  purge = Option.String('--purge', {
    description: "After the send, purge the host's copies of the volume with this policy",
  });

  protected async run(): Promise<void> {
    const host = this.hostName(this.host);
    const snapshot = this.snapshotName(this.snapshot);
    const client = this.client();
    // The daemon's own parser: a bad policy is a usage error (exit 2), and nothing is sent.
    if (this.purge !== undefined) parsePolicy(this.purge);
    const sending = client.send(snapshot, host, {
      ...(this.full ? { incremental: false } : {}),
      ...(this.purge === undefined ? {} : { purge: this.purge }),
    });
    const stop =
      this.context.tty && !this.json ? this.showProgress(client, snapshot, host) : () => {};
    let answer: SendResponse;
    try {
      answer = await sending;
    } finally {
      stop();
    }
    if (this.json) return this.printJson(answer);
    this.print(sendSummary(answer, snapshot, host));
    if (answer.HostPurge)
      this.print(purgeReport(answer.HostPurge, volumeOf(snapshot), false, host));
  }

  /** Polls the daemon's in-flight transfers while the send runs; returns the stop function. */
  private showProgress(client: ButtervolumeClient, snapshot: string, host: string): () => void {
    const { stderr } = this.context;
    let polling = false;
    let stopped = false;
    let shown = false;
    const timer = setInterval(() => {
      if (polling) return;
      polling = true;
      client
        .transfers({ timeoutMs: 5_000 })
        .then(({ Transfers }) => {
          const transfer = Transfers.find((t) => t.Snapshot === snapshot && t.Host === host);
          // A poll answered after the send finished must not redraw over the summary.
          if (transfer && !stopped) {
            stderr.write(`\r\x1b[K${progressLine(transfer)}`);
            shown = true;
          }
        })
        // A daemon without the endpoint, or busy: progress is a nicety, the send goes on.
        .catch(() => clearInterval(timer))
        .finally(() => {
          polling = false;
        });
    }, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
      if (shown) stderr.write('\r\x1b[K');
    };
  }
}
