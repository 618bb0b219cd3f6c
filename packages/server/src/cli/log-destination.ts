import pino from 'pino';

// The request log's destination for `ifmatch serve`: stderr through pino's
// asynchronous, buffered writer (SonicBoom). A log line then costs a copy into
// a buffer instead of a write(2) of its own, which was a third of a 304's
// cost (docs/PERFORMANCE.md). The buffer is written out when it holds 4 KiB,
// every 200 ms (so a quiet server's lines still show up at once to a person
// watching), on shutdown and at exit. What a crash can lose: on an uncaught
// exception or a normal exit nothing (the exit handler flushes); on SIGKILL,
// an out-of-memory kill or a native crash, the lines of the last 200 ms, at
// most 4 KiB of them.

const FLUSH_EVERY_MS = 200;

export type LogDestination = ReturnType<typeof pino.destination>;

export function logDestination(fd = 2): LogDestination {
  const destination = pino.destination({ dest: fd, sync: false, minLength: 4096 });
  const timer = setInterval(() => destination.flush(), FLUSH_EVERY_MS);
  timer.unref();
  process.once('exit', () => {
    clearInterval(timer);
    try {
      destination.flushSync();
    } catch {
      // stderr closed: nothing left to write to.
    }
  });
  return destination;
}
