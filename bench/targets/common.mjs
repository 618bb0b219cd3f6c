// Shared by the target processes: arguments, the documents, the ready signal.
import { parseArgs } from 'node:util';
import { loadDocuments } from '../lib/documents.mjs';

export function targetOptions() {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, mode: { type: 'string', default: 'typical' } },
  });
  return { port: Number(values.port), mode: values.mode };
}

/** The stored bytes and, for "typical" apps, the objects parsed from them once at start. */
export function documents() {
  const bytes = loadDocuments();
  const objects = {};
  for (const [size, buf] of Object.entries(bytes)) objects[size] = JSON.parse(buf.toString('utf8'));
  return { bytes, objects };
}

/** The runner waits for this line before it probes the target. */
export function ready(port) {
  process.stdout.write(`listening ${port}\n`);
}

// The runner ends targets with SIGTERM: exit at once, nothing to flush.
process.on('SIGTERM', () => process.exit(0));
