import type { VolumeHealthEntry } from '@buttervolume/api';
import type { JobFacts, VolumeFacts } from '@buttervolume/health';
import { Command, Option } from 'clipanion';
import { DaemonCommand } from '../base.js';
import { formatAge, formatBytes, formatDuration, formatTable, formatTime } from '../format.js';

/** The daemon's answer as the facts @buttervolume/health judges (check recomputes verdicts). */
export function factsOf(entry: VolumeHealthEntry): VolumeFacts {
  const ms = (iso: string | null) => (iso === null ? null : Date.parse(iso));
  return {
    volume: entry.Name,
    snapshots: entry.Snapshots,
    newestSnapshot: ms(entry.NewestSnapshot),
    sends: entry.Sends.map((s) => ({
      host: s.Host,
      lastSuccess: s.LastSuccess && {
        at: Date.parse(s.LastSuccess.At),
        bytes: s.LastSuccess.Bytes,
        incremental: s.LastSuccess.Incremental,
        durationMs: s.LastSuccess.DurationMs,
      },
      lastFailure: s.LastFailure && { at: Date.parse(s.LastFailure.At), error: s.LastFailure.Err },
    })),
    jobs: entry.Jobs.map(
      (j): JobFacts => ({
        action: j.Action,
        kind: j.Kind,
        hosts: j.Hosts,
        timer: j.Timer,
        periodMs: j.PeriodSeconds === null ? null : j.PeriodSeconds * 1000,
        active: j.Active,
        lastRun: ms(j.LastRun),
        lastOutcome: j.LastOutcome,
        lastError: j.LastError,
        failures: j.Failures,
        nextRun: ms(j.NextRun),
      }),
    ),
    schedulePaused: entry.SchedulePaused,
    attention: entry.Attention,
  };
}

function ago(iso: string | null, now: Date): string {
  return iso === null ? '-' : formatAge(now.getTime() - Date.parse(iso));
}

function lastSends(entry: VolumeHealthEntry, now: Date): string {
  const sent = entry.Sends.map((s) =>
    s.LastSuccess ? `${s.Host} ${ago(s.LastSuccess.At, now)}` : `${s.Host} never`,
  );
  return sent.length === 0 ? '-' : sent.join(', ');
}

/** One line per volume, for pipes: `<volume> <verdict> <reason>`. */
export function statusLines(volumes: readonly VolumeHealthEntry[]): string {
  return volumes.map((v) => `${v.Name} ${v.Verdict} ${v.Reason}`).join('\n');
}

/** The terminal's table: a row per volume, then each problem volume's reason. */
export function statusTable(volumes: readonly VolumeHealthEntry[], now: Date): string {
  const table = formatTable([
    ['VOLUME', 'HEALTH', 'SNAPSHOTS', 'NEWEST', 'LAST SEND'],
    ...volumes.map((v) => [
      v.Name,
      v.Verdict,
      String(v.Snapshots),
      ago(v.NewestSnapshot, now),
      lastSends(v, now),
    ]),
  ]);
  const reasons = volumes.filter((v) => v.Verdict !== 'OK').map((v) => `  ${v.Name}: ${v.Reason}`);
  return reasons.length === 0 ? table : [table, '', 'Needs a look:', ...reasons].join('\n');
}

/** Everything about one volume. */
export function statusDetails(v: VolumeHealthEntry, now: Date): string {
  const lines = [`${v.Name}: ${v.Verdict}, ${v.Reason}`];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(14)} ${text}`);
  row(
    'snapshots',
    v.NewestSnapshot === null
      ? String(v.Snapshots)
      : `${v.Snapshots}, newest ${formatTime(v.NewestSnapshot)} (${ago(v.NewestSnapshot, now)} ago)`,
  );
  if (v.CopyOnWrite !== undefined) row('copy-on-write', v.CopyOnWrite ? 'yes' : 'no (nodatacow)');
  if (v.Compression !== undefined) row('compression', v.Compression);
  if (v.UsageBytes !== undefined) {
    row(
      'space',
      v.QuotaBytes === undefined
        ? `${formatBytes(v.UsageBytes)} used`
        : `${formatBytes(v.UsageBytes)} used of ${formatBytes(v.QuotaBytes)} quota`,
    );
  }
  if (v.Attention !== null) row('ATTENTION', v.Attention);
  for (const s of v.Sends) {
    const ok = s.LastSuccess
      ? `last ${formatTime(s.LastSuccess.At)} (${ago(s.LastSuccess.At, now)} ago), ` +
        `${formatBytes(s.LastSuccess.Bytes)} ${s.LastSuccess.Incremental ? 'incremental' : 'full'} ` +
        `in ${formatDuration(s.LastSuccess.DurationMs)}`
      : 'never succeeded';
    const failed = s.LastFailure
      ? `; failed ${formatTime(s.LastFailure.At)}: ${s.LastFailure.Err.split('\n', 1)[0]}`
      : '';
    row(`send ${s.Host}`, ok + failed);
  }
  if (v.SchedulePaused) row('schedule', 'paused (`buttervolume scheduled resume`)');
  for (const j of v.Jobs) {
    const outcome =
      j.LastOutcome === null
        ? 'never ran'
        : j.LastOutcome === 'success'
          ? `ok ${formatTime(j.LastRun)}`
          : j.LastOutcome === 'skipped: unchanged'
            ? `skipped ${formatTime(j.LastRun)}, unchanged`
            : `FAILED ${formatTime(j.LastRun)}${j.Failures > 1 ? ` (${j.Failures} in a row)` : ''}: ${(j.LastError ?? '').split('\n', 1)[0]}`;
    const next = j.Active ? `next ${formatTime(j.NextRun)}` : 'paused';
    row(`job`, `${j.Action} every ${j.Timer}: ${outcome}; ${next}`);
  }
  if (v.Jobs.length === 0) row('jobs', 'none (`buttervolume schedule snapshot 60 <volume>`)');
  return lines.join('\n');
}

export class StatusCommand extends DaemonCommand {
  static override paths = [['status']];
  static override usage = Command.Usage({
    description: 'is every volume protected? snapshots, sends, jobs and a verdict per volume',
    details: `
      For each volume (or one): its snapshots and the newest one's age, per replication host
      the last successful send (time, size, incremental or full) and the last failure, its
      scheduled jobs with their last outcome and next run, space and copy-on-write, and one
      verdict, OK, WARN or CRIT, with the reason. The newest snapshot is late (WARN) past 2
      periods of the volume's most frequent snapshot-making job and lost (CRIT) past 4; the
      last send to a host likewise against its replicate job; a failing or paused job or a
      paused schedule is a WARN. A terminal gets a table (one volume: every detail), a pipe one
      \`<volume> <verdict> <reason>\` line per volume, \`--json\` everything.
    `,
    examples: [
      ['Every volume', '$0 status'],
      ['Everything about one volume', '$0 status pgdata'],
      ['For scripts', '$0 status --json'],
    ],
  });

  volume = Option.String({ name: 'volume', required: false });

  protected async run(): Promise<void> {
    const volume = this.volume === undefined ? undefined : this.volumeName(this.volume);
    const answer = await this.client().status(volume);
    if (this.json) return this.printJson(answer);
    if (!this.context.tty) return this.print(statusLines(answer.Volumes));
    const now = this.context.now();
    if (volume !== undefined && answer.Volumes[0]) {
      return this.print(statusDetails(answer.Volumes[0], now));
    }
    this.print(answer.Volumes.length === 0 ? 'No volumes.' : statusTable(answer.Volumes, now));
  }
}
