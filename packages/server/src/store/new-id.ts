import { randomBytes } from 'node:crypto';

// Server-chosen ids for POST: UUIDv7 (RFC 9562), so ids sort by creation time
// and a collection listing in id order is also creation order. 128 bits with 74
// random bits: collisions are not a practical concern, and stores insert them
// create-only anyway.
export function newId(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  let t = now;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
