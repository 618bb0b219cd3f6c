// HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime
// forms, which recipients must still accept. Dates are compared in whole seconds.
//
// Decisions: the grammar is case-sensitive ("GMT", "Nov", "Sun") as the RFC says;
// a day name must be one of the seven of the right form, but it need not agree
// with the date (senders get that wrong and the date is what matters); impossible
// dates (Feb 30, 24:00:00, second 60) are invalid. Invalid = undefined, which
// callers treat as "field absent" (RFC 9110 13.1.3, 13.1.4: ignore).

const SHORT_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const DAY = '(Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
// Sunday, 06-Nov-94 08:49:37 GMT
const RFC850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
// Sun Nov  6 08:49:37 1994
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ((?:\\d{2})|(?: \\d)) ${TIME} (\\d{4})$`);

/** Rounds epoch milliseconds down to the whole second (HTTP-dates have no fractions). */
export function toWholeSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

function build(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number | undefined {
  if (hour > 23 || minute > 59 || second > 59 || day < 1) return undefined;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(year, month, day);
  // Feb 30 rolls over to March: a changed month or day means an impossible date.
  if (date.getUTCMonth() !== month || date.getUTCDate() !== day) return undefined;
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text[start] === ' ' || text[start] === '\t')) start++;
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--;
  return text.slice(start, end);
}

/**
 * Parses an HTTP-date to epoch milliseconds (always whole seconds). Several
 * field lines, or an invalid date, give undefined (= treat the field as absent).
 * `now` decides the century of RFC 850's two-digit years (RFC 9110 5.6.7).
 */
export function parseHttpDate(
  value: string | readonly string[] | undefined | null,
  now: number = Date.now(),
): number | undefined {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string')
    text = value[0];
  else return undefined;
  // An HTTP-date is 24 to 30 characters; skip the regexes for anything far longer.
  if (text.length > 64) return undefined;
  text = trimOws(text);

  let m = IMF_FIXDATE.exec(text);
  if (m) {
    return build(
      Number(m[4]),
      MONTHS.indexOf(m[3]!),
      Number(m[2]),
      Number(m[5]),
      Number(m[6]),
      Number(m[7]),
    );
  }
  m = ASCTIME.exec(text);
  if (m) {
    return build(
      Number(m[7]),
      MONTHS.indexOf(m[2]!),
      Number(m[3]!.trim()),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
    );
  }
  m = RFC850.exec(text);
  if (m) {
    // A two-digit year more than 50 years in the future is the most recent past
    // year with the same last two digits.
    const nowYear = new Date(now).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(m[3]);
    if (year > nowYear + 50) year -= 100;
    return build(
      year,
      MONTHS.indexOf(m[2]!),
      Number(m[1]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
    );
  }
  return undefined;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Formats as IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (fractions dropped). */
export function formatHttpDate(time: number | Date): string {
  const date = new Date(typeof time === 'number' ? time : time.getTime());
  const year = date.getUTCFullYear();
  if (Number.isNaN(date.getTime()) || year < 0 || year > 9999) {
    throw new RangeError('formatHttpDate: time is not representable as an HTTP-date');
  }
  return (
    `${SHORT_DAYS[date.getUTCDay()]}, ${pad(date.getUTCDate(), 2)} ${MONTHS[date.getUTCMonth()]} ` +
    `${pad(year, 4)} ${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:` +
    `${pad(date.getUTCSeconds(), 2)} GMT`
  );
}
