// The node:http response side shared by the node:http and Express adapters:
// writing a decision to a ServerResponse, and the evaluate -> handler -> answer
// a write failure sequence. Internal (not a subpath export).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { conditionalHeaders, StoreUnavailableError } from '../index.js';
import {
  type Decision,
  decide,
  decideWriteFailure,
  type IfMatchState,
  keepNotModifiedFields,
  PROBLEM_TYPE,
  type PreconditionOptions,
  problemBody,
  underLock,
  type ValidatorsFn,
} from './common.js';

// Fields that describe a body; a 304 has none (RFC 9110 15.4.5, 8.6).
export const BODY_FIELDS = ['content-type', 'content-length', 'transfer-encoding'];

export function requestConditionals(req: IncomingMessage) {
  return conditionalHeaders(req.rawHeaders);
}

function sendNotModified(res: ServerResponse, fields: ReadonlyArray<[string, string]>): void {
  keepNotModifiedFields(
    {
      names: () => res.getHeaderNames(),
      set: (name, value) => res.setHeader(name, value),
      remove: (name) => res.removeHeader(name),
    },
    fields,
  );
  res.statusCode = 304;
  res.end();
}

/** Write a decision's answer to `res`; true = answered (304/404/412/428/503). Shared with Express. */
export function applyDecision(res: ServerResponse, decision: Decision): boolean {
  switch (decision.action) {
    case 'skip':
      return false;
    case 'proceed':
      for (const [name, value] of decision.headers) res.setHeader(name, value);
      return false;
    case 'not-modified':
      sendNotModified(res, decision.headers);
      return true;
    case 'problem': {
      const body = problemBody(decision.problem);
      for (const [name, value] of decision.headers) res.setHeader(name, value);
      res.statusCode = decision.status;
      res.setHeader('Content-Type', PROBLEM_TYPE);
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(isHead(res) ? undefined : body);
      return true;
    }
  }
}

const WRITE_FIELDS = ['etag', 'last-modified', 'location', 'content-location', ...BODY_FIELDS];

function isHead(res: ServerResponse): boolean {
  return res.req?.method === 'HEAD';
}

/**
 * Evaluate, run `handler`, and answer what a write handler throws: the shared
 * body of the node:http and Express adapters. `onError` gets every other error
 * (and ours once the response has started).
 */
export async function runWithPreconditions<Req extends IncomingMessage, Res extends ServerResponse>(
  req: Req,
  res: Res,
  validatorsFn: ValidatorsFn<Req>,
  handler: PreconditionHandler<Req, Res>,
  options: PreconditionOptions<Req> | undefined,
  onError: (error: unknown) => void,
): Promise<void> {
  const method = req.method ?? 'GET';
  await underLock(method, req, options, async () => {
    let state: IfMatchState | undefined;
    try {
      const conditional = requestConditionals(req);
      const decision = decide(method, conditional, await validatorsFn(req), options);
      if (applyDecision(res, decision)) return;
      state = decision.action === 'proceed' ? decision.state : undefined;
      try {
        await handler(req, res, state);
      } catch (error) {
        const answer = res.headersSent
          ? undefined
          : await decideWriteFailure(method, conditional, error, () => validatorsFn(req));
        if (answer === undefined) throw error;
        for (const name of WRITE_FIELDS) res.removeHeader(name); // what the handler set for a success
        applyDecision(res, answer);
      }
    } catch (error) {
      // A store that fails while validators() reads it: 503, like a failed write.
      const answer =
        error instanceof StoreUnavailableError && !res.headersSent
          ? await decideWriteFailure(method, {}, error, () => undefined)
          : undefined;
      if (answer === undefined) onError(error);
      else applyDecision(res, answer);
    }
  });
}

export type PreconditionHandler<Req = IncomingMessage, Res = ServerResponse> = (
  req: Req,
  res: Res,
  /** `undefined` only when validators() returned undefined (the route has none). */
  state: IfMatchState | undefined,
) => void | Promise<void>;
