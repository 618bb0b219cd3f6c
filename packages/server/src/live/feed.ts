// What a change looks like on the wire, in the feed's JSON page and in an SSE
// event's data alike: { id, etag, lastModified, deleted } (no etag for a
// deletion), lastModified formatted as the listing formats its items.

import { formatHttpDate } from '@ifmatch/core';
import type { ChangePage, StoredChange } from '../store/types.js';
import { formatCursor } from './cursor.js';

export interface ChangeItem {
  id: string;
  etag?: string;
  lastModified: string;
  deleted: boolean;
}

export function changeItem(change: StoredChange): ChangeItem {
  return change.deleted || change.etag === undefined
    ? { id: change.id, lastModified: formatHttpDate(change.lastModified), deleted: true }
    : {
        id: change.id,
        etag: change.etag,
        lastModified: formatHttpDate(change.lastModified),
        deleted: false,
      };
}

/** The feed's JSON body: the page's changes and the cursor to resume after them. */
export function feedBody(page: ChangePage, tag: string): string {
  return JSON.stringify({
    changes: page.changes.map(changeItem),
    cursor: formatCursor(page.position, tag),
  });
}
