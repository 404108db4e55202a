import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CSV_EOL, formatCsvRow, parseCsv } from './csv.js';

describe('parseCsv', () => {
  it('reads a file written by 3.x (DictWriter, \\r\\n, quoted synchronize)', () => {
    const text =
      'foovolume,snapshot,60,True\r\nfoovolume,"synchronize:h1,h2",60,True\r\nbar,purge:4h:1w:1y,60,False\r\n';
    const records = parseCsv(text);
    expect(records.map((r) => r.fields)).toEqual([
      ['foovolume', 'snapshot', '60', 'True'],
      ['foovolume', 'synchronize:h1,h2', '60', 'True'],
      ['bar', 'purge:4h:1w:1y', '60', 'False'],
    ]);
    expect(records.map((r) => r.eol)).toEqual(['\r\n', '\r\n', '\r\n']);
    expect(records.map((r) => r.line)).toEqual([1, 2, 3]);
  });

  it('reads \\n line ends, a last line without one, and blank lines', () => {
    const records = parseCsv('a,snapshot,60\n\nb,snapshot,5,True');
    expect(records.map((r) => r.fields)).toEqual([
      ['a', 'snapshot', '60'],
      [],
      ['b', 'snapshot', '5', 'True'],
    ]);
    expect(records.map((r) => r.eol)).toEqual(['\n', '\n', '']);
  });

  it('follows Python for doubled quotes, stray quotes and text after a closing quote', () => {
    // Checked against Python 3.11: csv.reader(['a"b,"c"d,e']) -> [['a"b', 'cd', 'e']]
    expect(parseCsv('a"b,"c"d,e')[0]!.fields).toEqual(['a"b', 'cd', 'e']);
    expect(parseCsv('"say ""hi""",x')[0]!.fields).toEqual(['say "hi"', 'x']);
    expect(parseCsv('"",x,')[0]!.fields).toEqual(['', 'x', '']);
  });

  it('reports an unclosed quote on its own line and reads the next lines normally', () => {
    const records = parseCsv('"a,snapshot,60,True\r\nb,snapshot,60,True\r\n');
    expect(records[0]!.fields).toEqual({ error: 'a quoted field is not closed on this line' });
    expect(records[0]!.raw).toBe('"a,snapshot,60,True');
    expect(records[1]!.fields).toEqual(['b', 'snapshot', '60', 'True']);
  });
});

describe('formatCsvRow', () => {
  it('quotes like Python csv.writer (QUOTE_MINIMAL)', () => {
    // Checked against Python 3.11 DictWriter output: 'foo,"synchronize:h1,h2",60,True\r\n"a""b",x,,\r\n'
    expect(formatCsvRow(['foo', 'synchronize:h1,h2', '60', 'True'])).toBe(
      'foo,"synchronize:h1,h2",60,True',
    );
    expect(formatCsvRow(['a"b', 'x', '', ''])).toBe('"a""b",x,,');
    expect(formatCsvRow(['a', '0,30 2 * * *'])).toBe('a,"0,30 2 * * *"');
    expect(formatCsvRow([''])).toBe('""');
    expect(CSV_EOL).toBe('\r\n');
  });

  it('round-trips any fields without line breaks', () => {
    const field = fc.string({ unit: fc.constantFrom('a', 'b', ',', '"', ' ', ':', '@', 'é') });
    fc.assert(
      fc.property(fc.array(field, { minLength: 1, maxLength: 6 }), (fields) => {
        fc.pre(!(fields.length === 1 && fields[0] === ''));
        const [record] = parseCsv(formatCsvRow(fields) + CSV_EOL);
        expect(record!.fields).toEqual(fields);
      }),
    );
  });
});
