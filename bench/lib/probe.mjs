// Checks made before any load: each target must answer what we think it
// answers (the exact bytes, a real 304), or its numbers would mean nothing.
import { request } from 'node:http';
import { connect } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** One GET over node:http; resolves with status, headers and the whole body. */
export function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Verifies a target for one section and returns the ETag to send on the 304
 * path. Throws with a clear reason when the target misbehaves.
 */
export async function verify(url, expected, path, extra = {}) {
  const headers = path === 'gzip' ? { ...extra, 'accept-encoding': 'gzip' } : { ...extra };
  const full = await get(url, headers);
  if (full.status !== 200) throw new Error(`${url}: expected 200, got ${full.status}`);
  let body = full.body;
  if (path === 'gzip') {
    if (full.headers['content-encoding'] !== 'gzip') {
      throw new Error(`${url}: no gzip (content-encoding ${full.headers['content-encoding']})`);
    }
    body = gunzipSync(body);
  }
  if (!body.equals(expected)) throw new Error(`${url}: body differs from the stored document`);
  const etag = full.headers.etag;
  if (path === '304') {
    if (typeof etag !== 'string') throw new Error(`${url}: no ETag on the 200`);
    const cond = await get(url, { ...extra, 'if-none-match': etag });
    if (cond.status !== 304) throw new Error(`${url}: If-None-Match gave ${cond.status}, not 304`);
    if (cond.body.length !== 0) throw new Error(`${url}: 304 with a body`);
  }
  return etag;
}

/**
 * Sends one conditional GET over a raw socket and returns the response head
 * exactly as it crossed the wire (a 304 has no body, so that is all of it).
 */
export function wire304(host, port, path, etag, extra = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    const chunks = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout reading the 304')));
    socket.on('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n${Object.entries(extra)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')}If-None-Match: ${etag}\r\nConnection: keep-alive\r\n\r\n`,
      );
    });
    socket.on('data', (c) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end !== -1) {
        socket.destroy();
        const head = all.subarray(0, end + 4).toString('latin1');
        resolve({ bytes: end + 4, extra: all.length - end - 4, head });
      }
    });
    socket.on('error', reject);
  });
}
