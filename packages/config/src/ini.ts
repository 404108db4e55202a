/**
 * The `[DEFAULT]` section of a Python-configparser ini file, as 3.x read it: keys are
 * case-insensitive (returned upper-case), `=` or `:` separate key and value, `#`/`;` start
 * comment lines, indented lines continue a value, and values get configparser's basic
 * interpolation (`%%` is a literal `%`, `%(key)s` another key's value).
 */
export function parseIniDefaults(text: string): Map<string, string> {
  const raw = new Map<string, string>();
  let section: string | undefined;
  let lastKey: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (/^\s/.test(line) && lastKey !== undefined && section === 'DEFAULT') {
      raw.set(lastKey, `${raw.get(lastKey) ?? ''}\n${trimmed}`);
      continue;
    }
    const header = /^\[(.+)\]$/.exec(trimmed);
    if (header) {
      section = header[1];
      lastKey = undefined;
      continue;
    }
    const match = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (!match || section !== 'DEFAULT') continue;
    lastKey = match[1]!.toUpperCase();
    raw.set(lastKey, match[2]!);
  }
  const values = new Map<string, string>();
  for (const key of raw.keys()) values.set(key, interpolate(key, raw, 0));
  return values;
}

function interpolate(key: string, raw: Map<string, string>, depth: number): string {
  const value = raw.get(key) ?? '';
  if (depth > 10) throw new Error(`config.ini: interpolation of ${key} is too deep (a loop?)`);
  return value.replace(/%(%|\(([^)]+)\)s)/g, (_, what: string, ref: string | undefined) =>
    what === '%' ? '%' : interpolate(ref!.toUpperCase(), raw, depth + 1),
  );
}
