const UNITS: readonly [string, number][] = [
  ['d', 86_400],
  ['h', 3_600],
  ['m', 60],
  ['s', 1],
];

/** "45s", "12m", "2h 5m", "3d 4h": the two largest units, enough to tell ages apart. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 0) return 'in the future';
  let seconds = Math.floor(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    if (parts.length === 2) break;
    const count = Math.floor(seconds / size);
    seconds -= count * size;
    if (count > 0 || (parts.length === 0 && unit === 's')) parts.push(`${count}${unit}`);
    else if (parts.length === 1) break;
  }
  return parts.join(' ');
}
