// A line-by-line port of buttervolume 3.x's compute_purges (buttervolume/plugin.py), kept as
// the oracle that planPurge must agree with on ordinary snapshots. Not shipped.

const TS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})$/;

/** strptime(text, '%Y-%m-%dT%H:%M:%S.%f') as naive wall-clock milliseconds, or undefined. */
function strptime(text: string | undefined): number | undefined {
  const m = text === undefined ? null : TS.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, us] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s, Math.floor(us / 1000));
  const back = new Date(ms);
  // datetime() rejects 2026-02-30 and the like.
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    return undefined;
  }
  return ms;
}

/** datetime.now() is naive: its wall clock, counted like strptime's. */
function naive(now: Date): number {
  return Date.UTC(
    now.getFullYear(),
    now.getMonth(),
    now.getDate(),
    now.getHours(),
    now.getMinutes(),
    now.getSeconds(),
    now.getMilliseconds(),
  );
}

export function computePurges3x(
  snapshots: readonly string[],
  patternMinutes: readonly number[],
  now: Date,
): string[] {
  const sorted = [...snapshots].sort();
  const pattern = [...patternMinutes].sort((a, b) => b - a);
  const purgeList: string[] = [];
  const maxAge = pattern[0]!;
  const ages: number[] = [];
  const valid: string[] = [];
  for (const s of sorted) {
    const ts = strptime(s.split('@')[1]);
    if (ts === undefined) continue;
    // int((now - ts).total_seconds()) / 60
    ages.push(Math.trunc((naive(now) - ts) / 1000) / 60);
    valid.push(s);
  }
  for (let p = 0; p + 1 < pattern.length; p++) {
    const hi = pattern[p]!;
    const lo = pattern[p + 1]!;
    let lastTimeframe = -1;
    ages.forEach((age, i) => {
      // `age > age_segment[0] < max_age or age < age_segment[1]`
      if ((age > hi && hi < maxAge) || age < lo) return;
      const timeframe = Math.floor(age / lo);
      if (timeframe === lastTimeframe || age > maxAge) purgeList.push(valid[i]!);
      lastTimeframe = timeframe;
    });
  }
  return purgeList;
}

/**
 * 3.x's purge list less the newest snapshot, which we never purge (a deliberate difference: a
 * forward clock jump made 3.x delete a volume's whole history).
 */
export function computePurgesKeepingNewest(
  snapshots: readonly string[],
  patternMinutes: readonly number[],
  now: Date,
): string[] {
  let newest: { name: string; ts: number } | undefined;
  for (const name of snapshots) {
    const ts = strptime(name.split('@')[1]);
    if (ts === undefined) continue;
    if (!newest || ts > newest.ts || (ts === newest.ts && name > newest.name)) {
      newest = { name, ts };
    }
  }
  return computePurges3x(snapshots, patternMinutes, now).filter((n) => n !== newest?.name);
}
