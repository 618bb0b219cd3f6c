// RFC 9110 14: a single byte range on a document. Several ranges are answered
// with the whole representation (allowed by 14.2), which spares multipart.

export type RangeResult =
  | { kind: 'none' } // no usable Range: send 200 with everything
  | { kind: 'single'; start: number; end: number } // inclusive
  | { kind: 'unsatisfiable' };

export function parseRange(value: string | undefined, length: number): RangeResult {
  if (value === undefined) return { kind: 'none' };
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(value);
  if (!m) return { kind: 'none' }; // unknown range unit: ignore (14.2)
  const specs = m[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (specs.length !== 1) return { kind: 'none' };
  const spec = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!spec || (spec[1] === '' && spec[2] === '')) return { kind: 'none' }; // invalid: ignore
  if (spec[1] === '') {
    // suffix range: the last N bytes
    const n = Number(spec[2]);
    if (n === 0 || length === 0) return { kind: 'unsatisfiable' };
    return { kind: 'single', start: Math.max(0, length - n), end: length - 1 };
  }
  const start = Number(spec[1]);
  const last = spec[2] === '' ? length - 1 : Number(spec[2]);
  if (spec[2] !== '' && last < start) return { kind: 'none' }; // invalid: ignore
  if (start >= length) return { kind: 'unsatisfiable' };
  return { kind: 'single', start, end: Math.min(last, length - 1) };
}
