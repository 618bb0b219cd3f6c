// A linearizability checker for one document per key: a register with
// compare-and-set (If-Match), create-if-absent (If-None-Match: *) and
// conditional delete. Wing & Gong's search with Lowe's memoization of
// (linearized set, state) pairs, as in Porcupine; Knossos' semantics for
// operations whose outcome the client never learned.
//
// Pure: no I/O. The recorder produces an Operation per request.

/** What the client sent. ETags are strings with their quotes, as on the wire. */
export type Request =
  | { kind: 'get'; ifNoneMatch?: string }
  | { kind: 'put'; ifMatch: string; body: string }
  | { kind: 'create'; body: string }
  | { kind: 'delete'; ifMatch: string };

/**
 * What came back. `unknown`: 503, reset, timeout: it may or may not have
 * taken effect. A 412 may carry the current bytes (`Prefer: return=representation`).
 */
export type Response = { status: number; etag?: string; body?: string } | { unknown: string };

export interface Operation {
  id: number;
  client: number;
  /** The document (collection/id); keys are checked independently. */
  key: string;
  /** Milliseconds on one monotonic clock: before the request was sent… */
  invoke: number;
  /** …and after the response was read (or the client gave up). Ignored when unknown. */
  complete: number;
  request: Request;
  response: Response;
}

export type Verdict =
  | {
      linearizable: true;
      keys: number;
      operations: number;
      /** ETags seen that only an unknown write can have produced. */
      orphans: number;
      steps: number;
    }
  | {
      linearizable: false;
      key: string;
      /** One line: why. */
      reason: string;
      /** The operation the search could not place at its deepest point, if any. */
      blocked?: Operation;
      steps: number;
    }
  | { linearizable: 'undecided'; key: string; reason: string; steps: number };

/** The document: absent, or its ETag and bytes. */
type Doc = { etag: string; body: string } | null;

interface State {
  doc: Doc;
  /**
   * ETags already attributed to unknown writes (sorted, joined): each ETag is
   * issued once by the server, so one unknown write at most explains it.
   */
  used: string;
}

const stateKey = (s: State): string =>
  s.doc === null ? `-|${s.used}` : `${s.doc.etag}\u0000${s.doc.body}|${s.used}`;

export const isUnknown = (r: Response): r is { unknown: string } => 'unknown' in r;

/**
 * ETags seen by some client but returned by no acknowledged write: only an
 * unknown write can have produced them. Maps each to its bytes when a GET
 * showed them (undefined when seen only in a 412's ETag) and to when it was
 * first seen (the earliest completion of a response naming it).
 */
type Orphans = Map<string, { body: string | undefined; seen: number }>;

/**
 * For each unknown PUT or create (by operation id), the orphan ETags it may
 * have produced: its body fits, and it was sent before that ETag was first seen.
 */
type Explains = Map<number, string[]>;

function explanations(ops: Operation[], orphans: Orphans): Explains {
  const explains: Explains = new Map();
  for (const op of ops) {
    const req = op.request;
    if (!isUnknown(op.response) || (req.kind !== 'put' && req.kind !== 'create')) continue;
    const etags: string[] = [];
    for (const [etag, o] of orphans) {
      if ((o.body === undefined || o.body === req.body) && op.invoke <= o.seen) etags.push(etag);
    }
    if (etags.length > 0) explains.set(op.id, etags);
  }
  return explains;
}

/** The states an operation may lead to from `s`; empty: impossible here. */
function step(s: State, op: Operation, explains: Explains): State[] {
  const { request: req, response: res } = op;
  const doc = s.doc;
  if (isUnknown(res)) {
    // Only effects are offered: "did not happen" is the same as never
    // linearizing it, which the search allows for unknown operations.
    let body: string;
    if (req.kind === 'delete')
      return doc?.etag === req.ifMatch ? [{ doc: null, used: s.used }] : [];
    if (req.kind === 'put' && doc?.etag === req.ifMatch) body = req.body;
    else if (req.kind === 'create' && doc === null) body = req.body;
    else return [];
    // Applied, with one of the orphan ETags this body explains. Applied with an
    // ETag nobody ever saw is not offered: no later known response could be
    // explained from that state (GETs and 412s would name its ETag, and no
    // If-Match can carry it), so it is the same as not applied at all.
    const next: State[] = [];
    const used = s.used === '' ? [] : s.used.split('\u0001');
    for (const etag of explains.get(op.id) ?? []) {
      if (!used.includes(etag)) {
        next.push({ doc: { etag, body }, used: [...used, etag].sort().join('\u0001') });
      }
    }
    return next;
  }
  const same = [s];
  // A 412 names the current ETag (none when the document is absent), and the bytes if asked.
  const failed = (etag: string | undefined) =>
    etag === undefined
      ? doc === null
      : doc?.etag === etag && (res.body === undefined || res.body === doc.body);
  switch (req.kind) {
    case 'get':
      if (res.status === 404) return doc === null ? same : [];
      if (res.status === 304)
        return doc !== null && doc.etag === req.ifNoneMatch && res.etag === doc.etag ? same : [];
      if (res.status === 200)
        return doc !== null &&
          doc.etag === res.etag &&
          doc.body === res.body &&
          res.etag !== req.ifNoneMatch
          ? same
          : [];
      return [];
    case 'put':
      if (res.status === 200 && res.etag !== undefined)
        return doc?.etag === req.ifMatch
          ? [{ doc: { etag: res.etag, body: req.body }, used: s.used }]
          : [];
      if (res.status === 412) return doc?.etag !== req.ifMatch && failed(res.etag) ? same : [];
      return [];
    case 'create':
      if (res.status === 201 && res.etag !== undefined)
        return doc === null ? [{ doc: { etag: res.etag, body: req.body }, used: s.used }] : [];
      if (res.status === 412) return doc !== null && failed(res.etag) ? same : [];
      return [];
    case 'delete':
      if (res.status === 204) return doc?.etag === req.ifMatch ? [{ doc: null, used: s.used }] : [];
      if (res.status === 404) return doc === null ? same : [];
      if (res.status === 412) return doc?.etag !== req.ifMatch && failed(res.etag) ? same : [];
      return [];
  }
}

/** Checks facts that need no search; a string says what is wrong. */
function precheck(ops: Operation[]): { orphans: Orphans } | string {
  const written = new Map<string, Operation>();
  for (const op of ops) {
    const res = op.response;
    if (isUnknown(res) || res.etag === undefined) continue;
    if (
      (op.request.kind === 'put' && res.status === 200) ||
      (op.request.kind === 'create' && res.status === 201)
    ) {
      const other = written.get(res.etag);
      if (other)
        return `ETag ${res.etag} issued to two acknowledged writes (ops ${other.id} and ${op.id})`;
      written.set(res.etag, op);
    }
  }
  const orphans: Orphans = new Map();
  for (const op of ops) {
    const res = op.response;
    if (isUnknown(res) || res.etag === undefined || written.has(res.etag)) continue;
    const body =
      (op.request.kind === 'get' && res.status === 200) || res.status === 412
        ? res.body
        : undefined;
    const before = orphans.get(res.etag);
    if (before?.body !== undefined && body !== undefined && before.body !== body)
      return `ETag ${res.etag} observed with two different bodies (op ${op.id})`;
    orphans.set(res.etag, {
      body: before?.body ?? body,
      seen: Math.min(before?.seen ?? Number.POSITIVE_INFINITY, op.complete),
    });
  }
  return { orphans };
}

/**
 * Known operations as a doubly linked list of call and return entries,
 * ordered by time. Unknown operations have no return and stay out of the
 * list: they are indexed by what they need to take effect.
 */
interface Entry {
  op: number; // index into the key's operations
  t: number;
  call: boolean;
  /** The matching return entry (call entries only). */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

function knownEntries(ops: Operation[]): Entry {
  const events: { t: number; call: boolean; op: number }[] = [];
  ops.forEach((op, i) => {
    if (isUnknown(op.response)) return;
    events.push({ t: op.invoke, call: true, op: i });
    events.push({ t: op.complete, call: false, op: i });
  });
  // At equal times calls first: touching operations count as concurrent (the permissive reading).
  events.sort((a, b) => a.t - b.t || Number(b.call) - Number(a.call));
  const head: Entry = {
    op: -1,
    t: -1,
    call: false,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  const calls = new Map<number, Entry>();
  let last = head;
  for (const e of events) {
    const entry: Entry = {
      op: e.op,
      t: e.t,
      call: e.call,
      match: undefined,
      prev: last,
      next: undefined,
    };
    last.next = entry;
    last = entry;
    if (e.call) calls.set(e.op, entry);
    else calls.get(e.op)!.match = entry;
  }
  return head;
}

/** Unknown writes by the state they can act on, each list in invoke order. */
interface UnknownIndex {
  byIfMatch: Map<string, number[]>;
  creates: number[];
}

function indexUnknown(ops: Operation[], explains: Explains): UnknownIndex {
  const index: UnknownIndex = { byIfMatch: new Map(), creates: [] };
  const order = ops.map((_, i) => i).sort((a, b) => ops[a]!.invoke - ops[b]!.invoke);
  for (const i of order) {
    const op = ops[i]!;
    if (!isUnknown(op.response)) continue;
    const req = op.request;
    // A write no orphan ETag can be pinned on is the same as one that never happened.
    if (req.kind !== 'delete' && !explains.has(op.id)) continue;
    if (req.kind === 'create') index.creates.push(i);
    else if (req.kind === 'put' || req.kind === 'delete') {
      const list = index.byIfMatch.get(req.ifMatch) ?? [];
      index.byIfMatch.set(req.ifMatch, list);
      list.push(i);
    }
  }
  return index;
}

function unlink(e: Entry): void {
  e.prev!.next = e.next;
  if (e.next) e.next.prev = e.prev;
}

function relink(e: Entry): void {
  e.prev!.next = e;
  if (e.next) e.next.prev = e;
}

/**
 * Memo of visited (linearized set, state) pairs. The set is kept as a 64-bit
 * Zobrist hash plus its size rather than in full, so memory stays at a few
 * dozen bytes a node on long histories. A collision could only prune a branch
 * (a false "not linearizable", never a false pass); at 2^-64 per pair, that is
 * not a practical concern.
 */
class Visited {
  private readonly seen = new Set<string>();
  private readonly states = new Map<string, number>();
  private readonly zobrist: Uint32Array;
  private readonly on: Uint8Array;
  private h1 = 0;
  private h2 = 0;
  private size = 0;

  constructor(n: number) {
    this.on = new Uint8Array(n);
    this.zobrist = new Uint32Array(2 * n);
    // Deterministic pseudo-random words (xorshift): the same history hashes the same way.
    let x = 0x9e3779b9;
    for (let i = 0; i < this.zobrist.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.zobrist[i] = x >>> 0;
    }
  }

  has(i: number): boolean {
    return this.on[i] === 1;
  }

  toggle(i: number): void {
    const on = this.on[i] === 1 ? 0 : 1;
    this.on[i] = on;
    this.size += on ? 1 : -1;
    this.h1 ^= this.zobrist[2 * i]!;
    this.h2 ^= this.zobrist[2 * i + 1]!;
  }

  /** Records the current set with `state`; false when it was already there. */
  add(state: State): boolean {
    const text = stateKey(state);
    const id = this.states.get(text) ?? this.states.size;
    this.states.set(text, id);
    const key = `${this.h1}:${this.h2}:${this.size}:${id}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}

/**
 * The operations that may come next: known calls ahead of the first pending
 * return, and unknown writes invoked by then that can act on `state`.
 */
function candidates(
  head: Entry,
  state: State,
  unknown: UnknownIndex,
  ops: Operation[],
  done: Visited,
): number[] {
  const out: number[] = [];
  let e = head.next;
  while (e?.call) {
    out.push(e.op);
    e = e.next;
  }
  const horizon = e === undefined ? Number.POSITIVE_INFINITY : e.t;
  const waiting = state.doc === null ? unknown.creates : unknown.byIfMatch.get(state.doc.etag);
  for (const i of waiting ?? []) {
    if (ops[i]!.invoke > horizon) break;
    if (!done.has(i)) out.push(i);
  }
  return out;
}

/** One key's history, starting from an absent document. */
function checkKey(key: string, ops: Operation[], maxSteps: number): Verdict {
  const pre = precheck(ops);
  if (typeof pre === 'string') return { linearizable: false, key, reason: pre, steps: 0 };
  const explains = explanations(ops, pre.orphans);
  const head = knownEntries(ops);
  const calls = new Map<number, Entry>();
  for (let e = head.next; e !== undefined; e = e.next) if (e.call) calls.set(e.op, e);
  const unknown = indexUnknown(ops, explains);
  let pendingReturns = calls.size;
  const done = new Visited(ops.length);
  const stack: { op: number; state: State; cand: number; choice: number }[] = [];
  let state: State = { doc: null, used: '' };
  let resume = { cand: 0, choice: 0 };
  let steps = 0;
  let deepest = -1;
  let blocked: Operation | undefined;
  while (pendingReturns > 0) {
    if (steps > maxSteps) {
      return { linearizable: 'undecided', key, reason: `search exceeded ${maxSteps} steps`, steps };
    }
    const cands = candidates(head, state, unknown, ops, done);
    let advanced = false;
    for (let c = resume.cand; c < cands.length && !advanced; c++) {
      const i = cands[c]!;
      const choices = step(state, ops[i]!, explains);
      for (let k = c === resume.cand ? resume.choice : 0; k < choices.length; k++) {
        const next = choices[k]!;
        done.toggle(i);
        if (done.add(next)) {
          steps++;
          stack.push({ op: i, state, cand: c, choice: k });
          state = next;
          const call = calls.get(i);
          if (call) {
            unlink(call);
            unlink(call.match!);
            pendingReturns--;
          }
          advanced = true;
          break;
        }
        done.toggle(i);
      }
    }
    resume = { cand: 0, choice: 0 };
    if (advanced) continue;
    // The first pending return cannot be preceded by anything that fits: undo the last step.
    if (stack.length > deepest) {
      deepest = stack.length;
      let e = head.next;
      while (e?.call) e = e.next;
      blocked = e ? ops[e.op] : undefined;
    }
    steps++;
    const frame = stack.pop();
    if (frame === undefined) {
      return {
        linearizable: false,
        key,
        reason: `no order explains op ${blocked?.id} (${describe(blocked)}) after ${deepest} operations`,
        blocked,
        steps,
      };
    }
    const call = calls.get(frame.op);
    if (call) {
      relink(call.match!);
      relink(call);
      pendingReturns++;
    }
    done.toggle(frame.op);
    state = frame.state;
    resume = { cand: frame.cand, choice: frame.choice + 1 };
  }
  return { linearizable: true, keys: 1, operations: ops.length, orphans: pre.orphans.size, steps };
}

/** A short human description of an operation, for verdicts. */
export function describe(op: Operation | undefined): string {
  if (op === undefined) return 'none';
  const r = op.request;
  const req =
    r.kind === 'get'
      ? `GET${r.ifNoneMatch ? ` If-None-Match ${r.ifNoneMatch}` : ''}`
      : r.kind === 'put'
        ? `PUT If-Match ${r.ifMatch}`
        : r.kind === 'create'
          ? 'PUT If-None-Match *'
          : `DELETE If-Match ${r.ifMatch}`;
  const res = isUnknown(op.response)
    ? `unknown (${op.response.unknown})`
    : `${op.response.status}${op.response.etag ? ` ${op.response.etag}` : ''}`;
  return `client ${op.client} ${op.key} ${req} -> ${res}`;
}

/**
 * Is there a total order of the operations, consistent with real time, in
 * which every known response is what the document would have answered?
 * Keys are independent registers, checked one by one (P-compositionality).
 * Unknown GETs carry no information and are left out.
 */
export function checkHistory(history: Operation[], { maxStepsPerKey = 2_000_000 } = {}): Verdict {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    if (op.request.kind === 'get' && isUnknown(op.response)) continue;
    const list = byKey.get(op.key) ?? [];
    byKey.set(op.key, list);
    list.push(op);
  }
  let steps = 0;
  let operations = 0;
  let orphans = 0;
  for (const [key, ops] of byKey) {
    const verdict = checkKey(key, ops, maxStepsPerKey);
    if (verdict.linearizable !== true) return verdict;
    steps += verdict.steps;
    operations += ops.length;
    orphans += verdict.orphans;
  }
  return { linearizable: true, keys: byKey.size, operations, orphans, steps };
}
