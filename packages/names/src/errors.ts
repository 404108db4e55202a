import { showValue } from '@buttervolume/text';
export type NameKind = 'volume' | 'snapshot' | 'marker' | 'host' | 'project';

/** A name from outside (Docker, the CLI, a peer) that we refuse to use as a path or argument. */
export class InvalidNameError extends Error {
  readonly code = 'INVALID_NAME';
  constructor(
    readonly kind: NameKind,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`Invalid ${kind} name ${showValue(value)}: ${rule}`);
    this.name = 'InvalidNameError';
  }
}
