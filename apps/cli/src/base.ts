import { ButtervolumeClient } from '@buttervolume/api';
import { type Config, loadConfig } from '@buttervolume/config';
import {
  HostName,
  InvalidNameError,
  MarkerName,
  SnapshotName,
  VolumeName,
} from '@buttervolume/names';
import { Command, Option } from 'clipanion';
import type { CliContext } from './context.js';
import { EXIT_OK, reportError } from './errors.js';

/** `--json`, config loading, name parsing and error reporting, shared by every command. */
export abstract class BaseCommand extends Command<CliContext> {
  json = Option.Boolean('--json', false, {
    description: "Print a JSON document (the daemon's answer) instead of human output",
  });

  #config: Config | undefined;

  /** The command's work; throws to fail. Resolves with an exit code only when it is not 0. */
  protected abstract run(): Promise<unknown>;

  async execute(): Promise<number> {
    try {
      const code = await this.run();
      return typeof code === 'number' ? code : EXIT_OK;
    } catch (error) {
      return reportError(error, this.context, { json: this.json, command: this.path.join(' ') });
    }
  }

  protected config(): Config {
    this.#config ??= loadConfig({ env: this.context.env });
    return this.#config;
  }

  /** DTFORMAT, so snapshot names are checked here exactly as the daemon will. */
  protected nameFormat(): { format: string } {
    return { format: this.config().dtFormat };
  }

  // Names are checked before anything is sent: a bad one is a usage error (exit 2) and the
  // daemon never sees it.
  protected volumeName(raw: string): VolumeName {
    return VolumeName.parse(raw);
  }

  protected snapshotName(raw: string): SnapshotName {
    return SnapshotName.parse(raw, this.nameFormat());
  }

  /** A snapshot or a send marker (`<volume>@<ts>@<host>`): both are read-only subvolumes. */
  protected snapshotOrMarkerName(raw: string): SnapshotName | MarkerName {
    const format = this.nameFormat();
    if (SnapshotName.is(raw, format)) return raw;
    try {
      return MarkerName.parseStored(raw, format);
    } catch {
      // Neither: say what either must look like.
    }
    throw new InvalidNameError(
      'snapshot',
      raw,
      `expected <volume>@<timestamp> (timestamp format ${format.format}) or a send marker ` +
        '<volume>@<timestamp>@<host>',
    );
  }

  /** A snapshot (`<volume>@<ts>`) or a volume (meaning its latest snapshot). */
  protected sourceName(raw: string): VolumeName | SnapshotName {
    return raw.includes('@') ? this.snapshotName(raw) : VolumeName.parse(raw);
  }

  protected hostName(raw: string): HostName {
    return HostName.parse(raw);
  }

  protected print(text: string): void {
    if (text !== '') this.context.stdout.write(`${text}\n`);
  }

  protected printJson(value: unknown): void {
    this.context.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}

/** A command that talks to the daemon over its socket. */
export abstract class DaemonCommand extends BaseCommand {
  socket = Option.String('--socket', {
    description:
      'The daemon socket (default: BUTTERVOLUME_SOCKET, config.ini, then /run/docker/plugins/btrfs.sock)',
  });

  protected client(): ButtervolumeClient {
    return new ButtervolumeClient({ socketPath: this.socket ?? this.config().socket });
  }
}
