import { VolumeNeedsAttentionError } from '../errors.js';

/**
 * Volumes the daemon could not bring to a consistent state (an interrupted restore it could not
 * finish). Their calls answer what to do; every other volume is served as usual. Nothing is
 * retried behind the operator's back: the next start tries again.
 */
export class Attention {
  readonly #reasons = new Map<string, string>();
  #version = 0;

  mark(volume: string, reason: string): void {
    this.#reasons.set(volume, reason);
    this.#version++;
  }

  /** Moves at every mark: reason() answers the same while it does not. */
  get version(): number {
    return this.#version;
  }

  /** Throws VolumeNeedsAttentionError for a volume that needs attention. */
  check(volume: string): void {
    const reason = this.#reasons.get(volume);
    if (reason !== undefined) throw new VolumeNeedsAttentionError(volume, reason);
  }

  /** Why a volume needs attention, or undefined. */
  reason(volume: string): string | undefined {
    return this.#reasons.get(volume);
  }

  /** The volumes that need attention and why, by name. */
  list(): Array<{ volume: string; reason: string }> {
    return [...this.#reasons]
      .map(([volume, reason]) => ({ volume, reason }))
      .sort((a, b) => (a.volume < b.volume ? -1 : 1));
  }
}
