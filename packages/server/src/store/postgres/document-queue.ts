// Writes to one document from one instance take turns here instead of in
// PostgreSQL's row-lock queue, and a write that was waiting while the write
// ahead of it committed is first decided against that committed state: if its
// precondition already fails there, it is refused (412) without a round trip.
//
// Why such a refusal is linearizable: the waiting write arrived before the
// COMMIT ahead of it was sent, so it was in flight at the instant that commit
// took effect, when the committed state was the current one. Placing the
// refusal at that instant explains its answer, whatever other instances wrote
// afterwards. A write that arrived after that COMMIT was sent cannot use it,
// and a write whose decision is to write always goes to the database, where
// it is decided again under the row lock (docs/SCALING.md, "Writes under
// contention").

import type { StoredDocument } from '../types.js';

/** A state this instance committed, and the arrival clock when its COMMIT was sent. */
export interface Committed {
  state: StoredDocument | undefined;
  at: number;
}

interface Queue {
  tail: Promise<void>;
  waiting: number;
  last: Committed | undefined;
}

export interface Turn {
  /** The arrival clock of this write: it may use `last` only if `arrived <= last.at`. */
  arrived: number;
  /** The latest state committed through this queue, if any. */
  last(): Committed | undefined;
  /** Call as the COMMIT of `state` is sent; `committed` once it is known to have landed. */
  committing(): number;
  committed(state: StoredDocument | undefined, at: number): void;
}

export class DocumentQueues {
  readonly #queues = new Map<string, Queue>();
  #clock = 0;

  /** Runs `work` once every earlier write to `key` from this instance has finished. */
  run<T>(key: string, work: (turn: Turn) => Promise<T>): Promise<T> {
    const arrived = ++this.#clock;
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = { tail: Promise.resolve(), waiting: 0, last: undefined };
      this.#queues.set(key, queue);
    }
    const q = queue;
    q.waiting++;
    const turn: Turn = {
      arrived,
      last: () => q.last,
      committing: () => this.#clock,
      committed: (state, at) => {
        if (q.last === undefined || q.last.at < at) q.last = { state, at };
      },
    };
    const result = q.tail.then(() => work(turn));
    q.tail = result.then(
      () => this.#leave(key, q),
      () => this.#leave(key, q),
    );
    return result;
  }

  #leave(key: string, q: Queue): void {
    q.waiting--;
    // Nobody waiting: later writes arrive after every COMMIT here, so `last` is of no use to them.
    if (q.waiting === 0 && this.#queues.get(key) === q) this.#queues.delete(key);
  }
}
