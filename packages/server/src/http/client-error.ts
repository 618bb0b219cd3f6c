// Errors Node's HTTP parser raises before Fastify sees a request (malformed
// request line or headers, headers over maxHeaderSize, headersTimeout or
// requestTimeout expired). Fastify's default answer is application/json; the
// contract wants problem+json for every 4xx, and `Connection: close` so no
// client reuses a socket we are about to destroy.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { problem } from './problem.js';

function answerFor(code: string | undefined): { status: number; slug: string; detail: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        slug: 'header-fields-too-large',
        detail: 'The request header fields are larger than the server accepts (16 KiB in all)',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        slug: 'request-timeout',
        detail: 'The request (headers or body) did not arrive in time',
      };
    default:
      return {
        status: 400,
        slug: 'malformed-request',
        detail: 'The request is not valid HTTP/1.1',
      };
  }
}

/** Fastify's `clientErrorHandler` option: answer with a problem, then close. */
export function clientErrorHandler(
  this: FastifyInstance,
  error: Error & { code?: string },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, slug, detail } = answerFor(error.code);
  this.log.debug({ err: error }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify(problem(status, slug, detail));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\n' +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  // end() flushes the answer; destroying at once could reset the connection
  // while the client is still sending, and it would never read the answer.
  // The timer bounds how long a client that keeps sending can hold the socket.
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

const CLOSE_GRACE_MS = 2000;
