import { readJsonOrUndefined, removeDurably, writeStateFile } from './files.js';
import { type FreezerPath, parseFreezerPath } from './freezer.js';

/** A container the daemon paused and has not unpaused yet. */
export interface PausedEntry {
  id: string;
  name: string;
  /** ISO 8601. */
  since: string;
  /** Frozen through this cgroup freezer, not Docker's pause: thawed there too. */
  freezer?: FreezerPath;
}

const ID_RE = /^[0-9a-f]{12,64}$/;

/**
 * What the daemon has paused, on disk (fsync'ed) BEFORE each pause and until the unpause: a
 * daemon killed in between finds the list at its next start and unpauses those containers.
 * Writes are serialised; the file is removed when nothing is paused.
 */
export class PauseJournal {
  readonly #entries = new Map<string, PausedEntry>();
  #writes: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  /** Entries a previous daemon left (ids checked: only hex container ids are ever acted on). */
  async leftOver(): Promise<PausedEntry[]> {
    // An unreadable journal is thrown, not read as empty: containers it names may still be
    // frozen, and the daemon's start logs that it could not tell.
    const data = (await readJsonOrUndefined(this.path)) as
      | { version?: unknown; paused?: unknown }
      | undefined;
    if (data === undefined || data === null || !Array.isArray(data.paused)) return [];
    return (data.paused as Partial<PausedEntry>[])
      .filter((e) => typeof e?.id === 'string' && ID_RE.test(e.id))
      .map((e) => {
        const freezer = parseFreezerPath(e.freezer, e.id as string);
        return {
          id: e.id as string,
          name: String(e.name ?? ''),
          since: String(e.since ?? ''),
          ...(freezer ? { freezer } : {}),
        };
      });
  }

  /** Records containers about to be paused; resolves once that is on disk. */
  add(entries: readonly PausedEntry[]): Promise<void> {
    for (const entry of entries) this.#entries.set(entry.id, entry);
    return this.#flush();
  }

  /** Forgets containers once they are unpaused (or found not to need it). */
  remove(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#entries.delete(id);
    return this.#flush();
  }

  #flush(): Promise<void> {
    const write = async () => {
      if (this.#entries.size === 0) await removeDurably(this.path);
      else {
        const paused = [...this.#entries.values()];
        await writeStateFile(this.path, `${JSON.stringify({ version: 1, paused })}\n`);
      }
    };
    // Each write reflects the map at its own turn; a failed one does not block the next.
    const next = this.#writes.then(write, write);
    this.#writes = next.catch(() => {});
    return next;
  }
}
