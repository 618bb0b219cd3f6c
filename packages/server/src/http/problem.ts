import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

// RFC 9457 problem details. Every 4xx/5xx of the server goes through here so
// the contract's "application/problem+json with type, title, status, detail"
// holds for errors raised by Fastify itself too.

export const PROBLEM_TYPE_BASE = 'https://ifmatch.dev/problems/';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  [member: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function titleFor(status: number): string {
  return TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

export function problem(
  status: number,
  slug: string,
  detail: string,
  extra: Record<string, unknown> = {},
): ProblemBody {
  return { type: PROBLEM_TYPE_BASE + slug, title: titleFor(status), status, detail, ...extra };
}

/** Sends a problem; `rawMembers` are JSON texts spliced in verbatim (e.g. a stored document). */
export function sendProblem(
  reply: FastifyReply,
  body: ProblemBody,
  rawMembers: Record<string, Buffer | string> = {},
): FastifyReply {
  let text = JSON.stringify(body);
  for (const [name, raw] of Object.entries(rawMembers)) {
    text = `${text.slice(0, -1)},${JSON.stringify(name)}:${raw.toString()}}`;
  }
  return reply
    .code(body.status)
    .header('content-type', 'application/problem+json')
    .header('cache-control', 'no-store')
    .send(text);
}

/**
 * Sends a problem straight on Node's response, for answers given before
 * Fastify sees the request (the front door, Expect). Add `connection: close`
 * when the request's body will never come; otherwise Node reads and discards
 * it, so a client still sending is not reset before it sees the answer.
 */
export function writeProblem(
  res: ServerResponse,
  body: ProblemBody,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(body.status, {
    ...headers,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
