// RFC 7240 Prefer: only the `return` preference matters to this server.
export type ReturnPreference = 'minimal' | 'representation' | undefined;

export function returnPreference(value: string | string[] | undefined): ReturnPreference {
  if (value === undefined) return undefined;
  const lines = Array.isArray(value) ? value : [value];
  let found: ReturnPreference;
  for (const line of lines) {
    for (const pref of line.split(',')) {
      const [token] = pref.split(';');
      const eq = token!.indexOf('=');
      if (eq < 0) continue;
      if (token!.slice(0, eq).trim().toLowerCase() !== 'return') continue;
      const v = token!
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase();
      // RFC 7240 2: the first occurrence of a preference wins.
      if (found === undefined && (v === 'minimal' || v === 'representation')) found = v;
    }
  }
  return found;
}
