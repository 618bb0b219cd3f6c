// The machine, named in the report: numbers mean little without it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

export function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {}
  let wrk = 'not installed';
  try {
    wrk = execFileSync('wrk', ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    // wrk --version prints its banner and exits 1.
    wrk = String(e.stdout ?? '') || wrk;
  }
  return {
    cpu,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    wrk: wrk
      .split('\n')[0]
      .replace(/Copyright.*/, '')
      .trim(),
    loadStart: os.loadavg(),
    date: new Date().toISOString(),
  };
}
