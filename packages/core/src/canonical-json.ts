// RFC 8785 JSON Canonicalization Scheme: object members sorted by the UTF-16
// code units of their names, ECMAScript number serialization, no whitespace.
//
// Strings are escaped as JSON.stringify does (which is what RFC 8785 3.2.2.2
// specifies); a lone surrogate, which I-JSON forbids, is written as a \udxxx
// escape rather than rejected, so any string a JSON.parse produced hashes.

function serialize(value: unknown, out: string[], stack: object[]): void {
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new TypeError(`canonicalJson: ${value} is not a JSON number`);
      }
      // Number#toString is the ECMAScript algorithm RFC 8785 3.2.2.3 adopts; -0 is "0".
      out.push(Object.is(value, -0) ? '0' : String(value));
      return;
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} is not a JSON value`);
  }
  const obj = value as Record<string, unknown> & { toJSON?: unknown };
  // Date and friends: honor toJSON as JSON.stringify does.
  if (typeof obj.toJSON === 'function') {
    serialize((obj.toJSON as (key: string) => unknown)(''), out, stack);
    return;
  }
  if (stack.includes(obj)) throw new TypeError('canonicalJson: circular structure');
  stack.push(obj);
  if (Array.isArray(obj)) {
    out.push('[');
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out.push(',');
      serialize(obj[i], out, stack);
    }
    out.push(']');
  } else {
    // The default sort compares UTF-16 code units, exactly RFC 8785 3.2.3.
    const keys = Object.keys(obj).sort();
    out.push('{');
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (i > 0) out.push(',');
      out.push(JSON.stringify(key), ':');
      serialize(obj[key], out, stack);
    }
    out.push('}');
  }
  stack.pop();
}

/**
 * Serializes a JSON value canonically (RFC 8785). Throws TypeError for values
 * JSON cannot hold: undefined (anywhere), functions, symbols, BigInt,
 * NaN/Infinity, and circular structures.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  serialize(value, out, []);
  return out.join('');
}
