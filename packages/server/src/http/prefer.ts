// RFC 7240 Prefer: the `return` preference (writes) and `wait` (long-poll reads).
export type ReturnPreference = 'minimal' | 'representation' | undefined;

/**
 * The value of the first occurrence of preference `name` (RFC 7240 2: only
 * the first instance is considered), unquoted; undefined when absent; '' for
 * a bare token. Field lines are read in order, as one list.
 */
function preferenceValue(value: string | string[] | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const lines = Array.isArray(value) ? value : [value];
  for (const line of lines) {
    for (const pref of line.split(',')) {
      const [token] = pref.split(';');
      const eq = token!.indexOf('=');
      const key = (eq < 0 ? token! : token!.slice(0, eq)).trim().toLowerCase();
      if (key !== name) continue;
      if (eq < 0) return '';
      return token!
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
    }
  }
  return undefined;
}

export function returnPreference(value: string | string[] | undefined): ReturnPreference {
  const v = preferenceValue(value, 'return')?.toLowerCase();
  return v === 'minimal' || v === 'representation' ? v : undefined;
}

/** Larger waits read as this many seconds (the caller caps them far lower anyway). */
const WAIT_CEILING = 2 ** 31 - 1;

/**
 * `wait=N` in seconds (RFC 7240 4.3: delta-seconds, 1*DIGIT), or undefined
 * when absent or not delta-seconds (junk, negative, fractional): a preference
 * the server does not understand is ignored, never an error. Huge values come
 * back as WAIT_CEILING; the caller caps them with its --max-wait.
 */
export function waitPreference(value: string | string[] | undefined): number | undefined {
  const v = preferenceValue(value, 'wait');
  if (v === undefined || !/^[0-9]+$/.test(v)) return undefined;
  return v.length > 10 ? WAIT_CEILING : Math.min(Number(v), WAIT_CEILING);
}
