import { StorageError } from './errors.js';

// systemd keeps these bytes as they are in unit names; '-' and '\' are escaped because
// '-' stands for '/' and '\' starts an escape (src/basic/unit-name.c, do_escape()).
const KEPT = /^[A-Za-z0-9:_.]$/;

function escapeByte(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * What `systemd-escape --path <path>` prints: the unit name stem systemd expects for a mount
 * unit of `path` (`/var/lib/buttervolume` → `var-lib-buttervolume`). A mount unit whose file
 * name does not match its `Where=` is refused by systemd, so this must be exact.
 */
export function systemdEscapePath(path: string): string {
  if (!path.startsWith('/')) {
    throw new StorageError('INVALID_PATH', `${JSON.stringify(path)} is not an absolute path`, {
      path,
    });
  }
  // path_simplify(): drop empty and '.' components; '..' makes the path non-normalised.
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new StorageError(
      'INVALID_PATH',
      `${JSON.stringify(path)} contains '..': give the real path of the mount point`,
      { path },
    );
  }
  if (parts.length === 0) return '-';
  const bytes = Buffer.from(parts.join('/'), 'utf8');
  let out = '';
  for (const [index, byte] of bytes.entries()) {
    const char = String.fromCharCode(byte);
    if (char === '/') out += '-';
    // A leading '.' would make a hidden unit file.
    else if (index === 0 && char === '.') out += escapeByte(byte);
    else if (byte < 0x80 && KEPT.test(char)) out += char;
    else out += escapeByte(byte);
  }
  return out;
}

/** The unit file name systemd requires for a mount unit at `where`. */
export function mountUnitName(where: string): string {
  return `${systemdEscapePath(where)}.mount`;
}
