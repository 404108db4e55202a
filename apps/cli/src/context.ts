import type { BaseContext } from 'clipanion';

/** What every command gets besides clipanion's streams and env: injectable for tests. */
export interface CliContext extends BaseContext {
  /** stdout is a terminal: tables with headers, live progress. Otherwise 3.x's plain lines. */
  tty: boolean;
  /** The clock used for ages ("2h 5m"). */
  now: () => Date;
}
