// The subset of Python's csv module (default "excel" dialect) that 3.x used for schedule.csv,
// so a file written by either implementation reads the same in the other.

/** One physical record of the file, with its text kept so untouched rows are written back verbatim. */
export interface CsvRecord {
  /** 1-based line number where the record starts. */
  readonly line: number;
  /** The record's text without its line terminator. */
  readonly raw: string;
  /** The terminator that followed it in the file ('' for a last line without one). */
  readonly eol: string;
  /** The fields, or an explanation when the record cannot be read as CSV. */
  readonly fields: readonly string[] | { readonly error: string };
}

/** Python's csv.writer default line terminator, which 3.x's DictWriter wrote. */
export const CSV_EOL = '\r\n';

/**
 * Splits a file into records and fields like Python's csv.reader (non-strict): `""` inside a
 * quoted field is one quote, a quote inside an unquoted field is literal, text after a closing
 * quote is appended. One deliberate difference: a quoted field is not allowed to run over a line
 * end. No schedule field holds a newline, and reading on would merge the user's next lines into
 * one broken record; instead that one line is reported unreadable and reading resumes after it.
 */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let pos = 0;
  let line = 1;
  while (pos < text.length) {
    const end = lineEnd(text, pos);
    const raw = text.slice(pos, end);
    const eol = text.startsWith('\r\n', end) ? '\r\n' : end < text.length ? text[end]! : '';
    records.push({ line, raw, eol, fields: parseRecord(raw) });
    pos = end + eol.length;
    line += 1;
  }
  return records;
}

function lineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return text.length;
}

function parseRecord(raw: string): CsvRecord['fields'] {
  // Python yields [] for a blank line and DictReader skips it; we keep that distinction.
  if (raw.length === 0) return [];
  const fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let quotedField = false;
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw[i]!;
    if (inQuotes) {
      if (c !== '"') field += c;
      else if (raw[i + 1] === '"') {
        field += '"';
        i += 1;
      } else inQuotes = false;
    } else if (c === ',') {
      fields.push(field);
      field = '';
      quotedField = false;
    } else if (c === '"' && field.length === 0 && !quotedField) {
      inQuotes = true;
      quotedField = true;
    } else field += c;
  }
  if (inQuotes) return { error: 'a quoted field is not closed on this line' };
  fields.push(field);
  return fields;
}

/** One row as Python's csv.writer writes it (QUOTE_MINIMAL), without the terminator. */
export function formatCsvRow(fields: readonly string[]): string {
  // Python quotes a lone empty field so the row is not read back as a blank line.
  if (fields.length === 1 && fields[0] === '') return '""';
  return fields.map(formatField).join(',');
}

function formatField(field: string): string {
  return /[",\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
}
