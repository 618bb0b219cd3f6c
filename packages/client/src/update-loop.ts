// update(): read-modify-write that never loses an edit. Each PUT with If-Match
// ends in one of three outcomes (Sent); the loop turns each into the next step:
// done, re-apply the change to the state that won, or resend unchanged.

import { type BackoffSchedule, sleep } from './backoff.js';
import { MaxAttemptsError, type PreconditionFailedError } from './errors.js';
import { jsonEqual } from './json.js';

/** A state of the document: its value and the tag that names it. */
export interface Versioned<T> {
  value: T;
  etag: string | undefined;
}

/** What one PUT with If-Match came to. */
export type Sent<T> =
  /** 2xx: stored. `value` is what the server now holds (our bytes, parsed back). */
  | { outcome: 'stored'; value: T; etag: string | undefined }
  /**
   * 412: another write won. `current` is the state the 412 carried (Prefer:
   * return=representation), with `keep` to cache it, when the server sent it.
   */
  | {
      outcome: 'conflict';
      error: PreconditionFailedError;
      current: (Versioned<T> & { keep: () => T }) | undefined;
    }
  /** No response (connection lost after sending): the write may or may not have landed. */
  | { outcome: 'lost'; error: unknown };

export interface UpdateSteps<T> {
  href: string;
  change: (current: T) => T | Promise<T>;
  merge?: ((base: T, mine: T, theirs: T) => T | Promise<T>) | undefined;
  maxAttempts: number;
  schedule: BackoffSchedule;
  signal?: AbortSignal | undefined;
  /** A GET through the validator cache; `reload` bypasses it. */
  read(reload: boolean): Promise<Versioned<T>>;
  /** PUT `mine` with `If-Match: etag`. Any answer but 2xx or 412 throws. */
  send(etag: string, mine: T): Promise<Sent<T>>;
  /** The write round trip to sleep in units of (backoff 'auto'). */
  roundTrip(): number | undefined;
}

export interface UpdateDone<T> extends Versioned<T> {
  attempts: number;
  conflicts: number;
  /** The server acknowledged the write (not a lost answer found landed by a read). */
  acknowledged: boolean;
}

/** What to do after an attempt that did not store. */
type Next<T> =
  | { step: 'done'; state: Versioned<T> }
  /** Re-apply to `theirs`; undefined = the winning state is not in hand: re-read it. */
  | { step: 'reapply'; theirs: Versioned<T> | undefined }
  /** The state is still the one we based on: the write did not land, send it again. */
  | { step: 'resend' };

export async function runUpdate<T>(
  steps: UpdateSteps<T>,
  first: Versioned<T>,
): Promise<UpdateDone<T>> {
  const { href, signal, schedule } = steps;
  let base = first;
  let mine = await steps.change(base.value);
  /** Tags an If-Match has failed on: never sent again. */
  const failed = new Set<string>();
  let attempts = 0;
  let conflicts = 0;

  for (;;) {
    signal?.throwIfAborted();
    const expected = base.etag;
    if (expected === undefined) {
      throw new TypeError(`update ${href}: the server sent no ETag, so If-Match is impossible`);
    }
    attempts++;
    const sent = await steps.send(expected, mine);
    if (sent.outcome === 'stored') {
      return { value: sent.value, etag: sent.etag, attempts, conflicts, acknowledged: true };
    }
    const next = await classify(sent, expected);
    if (next.step === 'done') {
      return { ...next.state, attempts, conflicts, acknowledged: false };
    }
    if (next.step === 'reapply') {
      conflicts++;
      failed.add(expected);
    }
    if (attempts >= steps.maxAttempts) {
      throw new MaxAttemptsError(href, attempts, conflicts, { cause: sent.error });
    }

    let theirs = next.step === 'reapply' ? next.theirs : undefined;
    // The first 412 that carried the current document is retried at once:
    // that state is as fresh as it gets. Later conflicts back off (backoff.ts:
    // in units of the write round trip, jittered); after a sleep any state in
    // hand is stale, so re-read through the cache (a 304 and no body when the
    // 412's document is still current).
    if (!(theirs !== undefined && conflicts === 1 && schedule.sleeps === 0)) {
      await sleep(schedule.next(steps.roundTrip()), signal);
      theirs = undefined;
    }
    if (next.step === 'resend') continue;
    if (theirs === undefined) {
      const got = await steps.read(false);
      // A cache answer could only repeat a failed tag if the server were odd; then read plainly.
      theirs = got.etag !== undefined && failed.has(got.etag) ? await steps.read(true) : got;
    }
    mine = steps.merge
      ? await steps.merge(base.value, mine, theirs.value)
      : await steps.change(theirs.value);
    base = theirs;
  }

  async function classify(
    sent: Exclude<Sent<T>, { outcome: 'stored' }>,
    expected: string,
  ): Promise<Next<T>> {
    if (sent.outcome === 'conflict') {
      const current = sent.current;
      // A carried state whose tag already failed is no basis: re-read instead.
      const tag = current?.etag;
      if (current === undefined || tag === undefined || tag === expected || failed.has(tag)) {
        return { step: 'reapply', theirs: undefined };
      }
      return { step: 'reapply', theirs: { value: current.keep(), etag: tag } };
    }
    // Unknown outcome: look before calling it a conflict.
    const now = await steps.read(true);
    const wanted = JSON.parse(JSON.stringify(mine)) as unknown;
    if (jsonEqual(now.value, wanted)) return { step: 'done', state: now };
    if (now.etag !== expected) return { step: 'reapply', theirs: now };
    return { step: 'resend' };
  }
}
