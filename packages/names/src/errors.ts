export type NameKind = 'volume' | 'snapshot' | 'marker' | 'host' | 'project';

/** A name from outside (Docker, the CLI, a peer) that we refuse to use as a path or argument. */
export class InvalidNameError extends Error {
  readonly code = 'INVALID_NAME';
  constructor(
    readonly kind: NameKind,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`Invalid ${kind} name ${show(value)}: ${rule}`);
    this.name = 'InvalidNameError';
  }
}

/** The offending value, quoted and cut short so a 10 kB name does not flood a log line. */
function show(value: unknown): string {
  if (typeof value !== 'string') return `(${value === null ? 'null' : typeof value})`;
  const text = JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  return value.length > 64 ? `${text} (${value.length} characters)` : text;
}
