// @ifmatch/core/redis: conditional JSON documents in Redis through ioredis (an
// optional peer). Each document is a hash (b = body, t = token, m = modified)
// and each write one Lua script: Redis runs a script atomically, so the
// comparison and the write cannot be split by another client's command.
import type { Redis } from 'ioredis';
import {
  type DocumentStore,
  type DocumentTable,
  documentStore,
  layout,
  type TokenRow,
} from './document-store.js';

export type {
  DocumentStore,
  DocumentTable,
  ETagSource,
  Stored,
  Written,
} from './document-store.js';

// KEYS[1] = the document; ARGV: expected token ('' = any), body, modified,
// new hash ('' = increment the version). Returns the new token, or false.
const UPDATE = `
local cur = redis.call('HGET', KEYS[1], 't')
if not cur then return false end
if ARGV[1] ~= '' and cur ~= ARGV[1] then return false end
local t = ARGV[4]
if t == '' then t = tostring(tonumber(cur) + 1) end
redis.call('HSET', KEYS[1], 'b', ARGV[2], 't', t, 'm', ARGV[3])
return t`;

const INSERT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local t = ARGV[3]
if t == '' then t = '1' end
redis.call('HSET', KEYS[1], 'b', ARGV[1], 't', t, 'm', ARGV[2])
return t`;

const DELETE = `
local cur = redis.call('HGET', KEYS[1], 't')
if not cur then return 0 end
if ARGV[1] ~= '' and cur ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

/**
 * A DocumentStore on `redis`, keys `<spec.table>:<id>` (column names are not
 * used). The client must be made with `autoResendUnfulfilledCommands: false`.
 * A reply error (the script refused) is `not-applied`: every script checks
 * before it writes. A lost connection is `unknown`: the command may have run.
 */
export function redisDocuments<T = unknown>(redis: Redis, spec: DocumentTable): DocumentStore<T> {
  // ioredis resends a command that was in flight when the connection dropped:
  // a write that ran would run again, find its own result and report a false
  // conflict (and a client would apply its change twice). Refuse such a client.
  if (redis.options.autoResendUnfulfilledCommands !== false) {
    throw new TypeError(
      'redisDocuments needs an ioredis client with autoResendUnfulfilledCommands: false',
    );
  }
  const l = layout(spec);
  const key = (id: string) => `${l.table}:${id}`;
  const hash = l.etag === 'hash';
  const token = (t: string): TokenRow['token'] => (hash ? t : Number(t));
  const row = (t: string | null, m: string | null): TokenRow | undefined =>
    t === null ? undefined : { token: token(t), modified: Number(m) };
  return documentStore<T>(
    {
      async selectToken(id) {
        const [t, m] = await redis.hmget(key(id), 't', 'm');
        return row(t ?? null, m ?? null);
      },
      async select(id) {
        const [t, m, b] = await redis.hmget(key(id), 't', 'm', 'b');
        const found = row(t ?? null, m ?? null);
        return found && { ...found, text: String(b) };
      },
      async update(id, next, expected) {
        const args = [expected ?? '', next.text, next.modified, next.hash ?? ''];
        const t = (await redis.eval(UPDATE, 1, key(id), ...args.map(String))) as string | null;
        return t === null ? undefined : { token: token(t), modified: next.modified };
      },
      async insert(id, next) {
        const args = [next.text, next.modified, next.hash ?? ''];
        const t = (await redis.eval(INSERT, 1, key(id), ...args.map(String))) as string | null;
        return t === null ? undefined : { token: token(t), modified: next.modified };
      },
      async delete(id, expected) {
        return ((await redis.eval(DELETE, 1, key(id), String(expected ?? ''))) as number) > 0;
      },
      outcome: (error) => {
        if (error instanceof TypeError || error instanceof RangeError) return undefined;
        return (error as Error | null)?.name === 'ReplyError' ? 'not-applied' : 'unknown';
      },
    },
    l.etag,
  );
}
