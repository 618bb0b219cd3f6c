// Entry of one racing client, run as a worker thread (workerData) or as a
// child process (config in argv[2], messages over the IPC channel). It says
// 'ready', waits for 'go' so all clients start together, then reports.

import { parentPort, workerData } from 'node:worker_threads';
import { type ClientConfig, runClient } from './client-loop.js';

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; index: number; committed: number; failed: number; conflicts: number }
  | { type: 'done'; report: import('./client-loop.js').ClientReport }
  | { type: 'error'; message: string };

const port = parentPort;
const config: ClientConfig = port
  ? (workerData as ClientConfig)
  : (JSON.parse(process.argv[2] ?? '{}') as ClientConfig);

function send(message: WorkerMessage, then?: () => void): void {
  if (port) {
    port.postMessage(message);
    then?.();
  } else {
    process.send?.(message, undefined, {}, () => then?.());
  }
}

function onMessage(handler: (message: unknown) => void): void {
  if (port) port.on('message', handler);
  else process.on('message', handler);
}

onMessage((message) => {
  if ((message as { type?: string }).type !== 'go') return;
  runClient(config, (p) => send({ type: 'progress', index: config.index, ...p })).then(
    (report) => send({ type: 'done', report }, () => port || process.exit(0)),
    (error: unknown) =>
      send({ type: 'error', message: String(error) }, () => port || process.exit(1)),
  );
});
send({ type: 'ready' });
