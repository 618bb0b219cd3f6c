// Progress on stderr: a redrawn bar on a terminal, a few plain lines otherwise
// (logs and CI should not fill up with carriage returns).

export interface ProgressView {
  update(done: number, conflicts: number): void;
  finish(): void;
}

export function progressView(
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): ProgressView {
  const started = performance.now();
  let done = 0;
  let conflicts = 0;
  const render = () => {
    const ratio = total > 0 ? done / total : 1;
    const width = 30;
    const filled = Math.round(ratio * width);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${done}/${total} updates  412s: ${conflicts}  ${secs}s`;
  };
  if (stream.isTTY) {
    const timer = setInterval(() => stream.write(`\r\x1b[K${render()}`), 100);
    return {
      update(d, c) {
        done = d;
        conflicts = c;
      },
      finish() {
        clearInterval(timer);
        stream.write(`\r\x1b[K${render()}\n`);
      },
    };
  }
  let nextQuarter = 1;
  return {
    update(d, c) {
      done = d;
      conflicts = c;
      while (nextQuarter <= 3 && done >= (total * nextQuarter) / 4) {
        stream.write(`${render()}\n`);
        nextQuarter++;
      }
    },
    finish() {
      stream.write(`${render()}\n`);
    },
  };
}
