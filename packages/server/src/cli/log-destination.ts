import { write as fsWrite, writeSync } from 'node:fs';

// The log's destination for `ifmatch serve`: lines are copied into a buffer,
// and the buffer goes to stderr in chunks, one write(2) per 16 KiB, on libuv's
// thread pool (so a slow reader of stderr never stalls the event loop). A
// write(2) per line was a third of a 304's cost, and pino's SonicBoom still
// cost more than the line itself (it measures and concatenates its pending
// string on every line; docs/PERFORMANCE.md, "CPU per request of a 304").
//
// The buffer is handed to the kernel when it holds 16 KiB, every 200 ms (so a
// quiet server's lines still show up at once to a person watching), and at
// exit. What a crash can lose:
// - a normal exit: nothing (a write in flight keeps the process alive, and the
//   exit handler writes what is left);
// - an uncaught exception: nothing (the exit handler writes what is left;
//   a chunk whose write was in flight at that moment may land after it);
// - SIGKILL, an out-of-memory kill or a native crash: the lines not yet
//   written: those of the last 200 ms, at most 16 KiB of them plus the chunk
//   being written.
// While stderr does not take writes (a reader that stopped reading, EAGAIN),
// up to 8 MiB of lines wait in memory; lines beyond that are dropped until
// the backlog is written, then a warning line says how many. A write that
// fails otherwise (stderr closed) turns the log off.

const FLUSH_EVERY_MS = 200;
const CHUNK_BYTES = 16 * 1024;
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
const RETRY_MS = 20;

export interface LogDestinationOptions {
  /** Bytes buffered before a write (default 16 KiB). */
  chunkBytes?: number;
  /** Bytes waiting for the file descriptor before lines are dropped (default 8 MiB). */
  maxPendingBytes?: number;
}

/** A pino destination stream (write, flush, flushSync) over a file descriptor. */
export class LogDestination {
  readonly #fd: number;
  readonly #chunk: number;
  readonly #max: number;
  #buf: Buffer;
  #pos = 0;
  /** Sealed chunks in order; while #writing, the first one is in flight. */
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #writing = false;
  #retry: NodeJS.Timeout | undefined;
  #off = false;
  #dropped = 0;
  #flushed: Array<(error?: Error) => void> = [];

  constructor(fd: number, options: LogDestinationOptions = {}) {
    this.#fd = fd;
    this.#chunk = options.chunkBytes ?? CHUNK_BYTES;
    this.#max = options.maxPendingBytes ?? MAX_PENDING_BYTES;
    this.#buf = Buffer.allocUnsafe(this.#chunk * 2);
  }

  /** Lines dropped so far because stderr took no writes and the memory cap was reached. */
  get dropped(): number {
    return this.#dropped;
  }

  write(line: string): boolean {
    if (this.#off) return true;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: the line fits if this holds.
    const most = line.length * 3;
    // Once lines are dropped, all are until the backlog is written: a gap, then the warning.
    if (this.#dropped > 0 || this.#queued + this.#pos + most > this.#max) {
      this.#dropped++;
      return true;
    }
    if (this.#buf.length - this.#pos < most) this.#seal(most);
    this.#pos += this.#buf.write(line, this.#pos);
    if (this.#pos >= this.#chunk) {
      this.#seal(0);
      this.#pump();
    }
    return true;
  }

  /** Starts writing what is buffered; `done` once all of it is written. */
  flush(done?: (error?: Error) => void): void {
    this.#seal(0);
    if (done) {
      if (this.#off || (this.#queue.length === 0 && !this.#writing)) done();
      else this.#flushed.push(done);
    }
    this.#pump();
  }

  /** Writes what is buffered now, synchronously (exit, pino's fatal). */
  flushSync(): void {
    this.#seal(0);
    if (this.#off) return;
    // The chunk in flight stays the callback's; the ones after it go now.
    const from = this.#writing ? 1 : 0;
    let tries = 0;
    while (this.#queue.length > from) {
      const chunk = this.#queue[from]!;
      let n: number;
      try {
        n = writeSync(this.#fd, chunk);
      } catch (error) {
        // A full non-blocking pipe: wait a little for its reader, a bounded number of times.
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN' && ++tries < 50) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_MS);
          continue;
        }
        this.#stop();
        return;
      }
      this.#written(from, n);
    }
  }

  /** Moves the buffered bytes to the queue; the next buffer holds at least `room` bytes. */
  #seal(room: number): void {
    if (this.#pos > 0) {
      this.#queue.push(this.#buf.subarray(0, this.#pos));
      this.#queued += this.#pos;
      this.#buf = Buffer.allocUnsafe(Math.max(this.#chunk * 2, room));
      this.#pos = 0;
    } else if (this.#buf.length < room) {
      this.#buf = Buffer.allocUnsafe(room);
    }
  }

  #pump(): void {
    if (this.#writing || this.#off || this.#retry !== undefined) return;
    if (this.#queue.length === 0) {
      this.#settle();
      return;
    }
    this.#writing = true;
    const chunk = this.#queue[0]!;
    fsWrite(this.#fd, chunk, 0, chunk.length, null, (error, n) => {
      this.#writing = false;
      if (error) {
        if (error.code === 'EAGAIN') {
          this.#retry = setTimeout(() => {
            this.#retry = undefined;
            this.#pump();
          }, RETRY_MS);
          this.#retry.unref();
        } else {
          this.#stop(error);
        }
        return;
      }
      this.#written(0, n);
      this.#pump();
    });
  }

  /** `n` bytes of the queue's chunk at `index` were written. */
  #written(index: number, n: number): void {
    const chunk = this.#queue[index]!;
    this.#queued -= n;
    if (n < chunk.length) this.#queue[index] = chunk.subarray(n);
    else this.#queue.splice(index, 1);
    if (this.#dropped > 0 && this.#queue.length === 0 && this.#pos === 0) {
      const note = `{"level":40,"time":${Date.now()},"msg":"${this.#dropped} log lines dropped: stderr took no writes"}\n`;
      this.#dropped = 0;
      this.write(note);
    }
  }

  #settle(): void {
    const waiting = this.#flushed;
    this.#flushed = [];
    for (const done of waiting) done();
  }

  #stop(error?: Error): void {
    this.#off = true;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#pos = 0;
    const waiting = this.#flushed;
    this.#flushed = [];
    for (const done of waiting) done(error);
  }
}

/** stderr (or `fd`) as the log's destination, written every 200 ms and at exit. */
export function logDestination(fd = 2, options: LogDestinationOptions = {}): LogDestination {
  const destination = new LogDestination(fd, options);
  const timer = setInterval(() => destination.flush(), FLUSH_EVERY_MS);
  timer.unref();
  process.once('exit', () => {
    clearInterval(timer);
    destination.flushSync();
  });
  return destination;
}
