import {
  type HostName,
  MarkerName,
  type SnapshotName,
  SnapshotName as Snapshots,
} from '@buttervolume/names';

/** A send marker found in SNAPSHOTS_PATH, with the snapshot it records. */
export interface Marker {
  name: MarkerName;
  snapshot: SnapshotName;
  timestamp: Date;
}

/**
 * The markers recording what `host` holds of `volume`, oldest first. Names that are not
 * markers (snapshots, stray entries, other volumes or hosts) are ignored.
 */
export function markersFor(
  names: readonly string[],
  volume: string,
  host: HostName,
  format?: string,
): Marker[] {
  const options = format === undefined ? {} : { format };
  const found: Marker[] = [];
  for (const name of names) {
    if (!MarkerName.is(name, options)) continue;
    const { snapshot, host: markerHost } = MarkerName.split(name);
    if (markerHost !== host) continue;
    const parts = Snapshots.split(snapshot, options);
    if (parts.volume !== volume) continue;
    found.push({ name, snapshot, timestamp: parts.timestamp });
  }
  // Same instant (two formats could collide): the name keeps the order total and stable.
  return found.sort(
    (a, b) => a.timestamp.getTime() - b.timestamp.getTime() || a.name.localeCompare(b.name),
  );
}

/** What to do with markers once `host` is known to hold `sent`. */
export interface MarkerPlan {
  /** The marker to create, unless it exists already or a newer one supersedes it. */
  create: MarkerName | undefined;
  /** Markers superseded by the newest one for (volume, host). */
  remove: MarkerName[];
}

/**
 * Only the newest marker per (volume, host) is kept: it names the parent of the next
 * incremental send. Sending an older snapshot again does not move the marker back.
 */
export function planMarkers(
  existing: readonly Marker[],
  sent: SnapshotName,
  host: HostName,
  format?: string,
): MarkerPlan {
  const options = format === undefined ? {} : { format };
  const name = MarkerName.of(sent, host);
  const candidate: Marker = {
    name,
    snapshot: sent,
    timestamp: Snapshots.split(sent, options).timestamp,
  };
  const all = existing.some((m) => m.name === name) ? [...existing] : [...existing, candidate];
  all.sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime() || a.name.localeCompare(b.name));
  const newest = all.at(-1)!;
  return {
    create: newest.name === name && !existing.some((m) => m.name === name) ? name : undefined,
    remove: all.filter((m) => m !== newest && existing.includes(m)).map((m) => m.name),
  };
}
