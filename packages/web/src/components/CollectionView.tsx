import {
  AlreadyExistsError,
  type CollectionChange,
  DocumentNotFoundError,
  useCollectionUpdates,
  useCreateDocument,
  useDocument,
} from '@ifmatch/react-query';
import { useState } from 'react';
import { parseJson } from '../json-diff.js';
import { documentHref, documentUrl, validName } from '../route.js';
import { JsonEditor } from './JsonEditor.js';

interface Listing {
  items: { id: string; etag: string; lastModified: string }[];
  next: string | null;
  /** The change feed's position at this listing (absent from older servers). */
  cursor?: string;
}

const PAGE = 50;

const LIVE_LABEL = {
  live: 'Live: following the change feed',
  connecting: 'Live: connecting…',
  paused: 'Live: paused while the tab is hidden',
  stopped: 'Live: stopped (reload to retry)',
} as const;

export function CollectionView(props: { collection: string; interval: number | false }) {
  const { collection } = props;
  // Cursors of the pages before the current one, for "Previous".
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1] ?? null;
  const listUrl =
    `/api/${encodeURIComponent(collection)}?limit=${PAGE}` +
    (after ? `&after=${encodeURIComponent(after)}` : '');
  const list = useDocument<Listing>(listUrl, { refetchInterval: props.interval });
  const items = list.data?.value.items ?? [];
  // Live: the feed from the first listing's cursor; each change refetches the
  // listing (members appear, change, disappear without a reload).
  const live = useCollectionUpdates(`/api/${encodeURIComponent(collection)}`, {
    since: list.data ? (list.data.value.cursor ?? null) : undefined,
  });
  const lastChange = new Map<string, CollectionChange>();
  for (const c of [...live.recent].reverse()) lastChange.set(c.id, c);

  return (
    <section aria-labelledby="collection-title">
      <h2 id="collection-title">
        Collection <code>{collection}</code>
      </h2>
      <h3 id="docs-title">Documents</h3>
      <p className="live-state" data-testid="collection-live" title={live.error?.message}>
        {LIVE_LABEL[live.state]}
      </p>
      {list.isPending && <p aria-busy="true">Loading…</p>}
      {list.error && !(list.error instanceof DocumentNotFoundError) && (
        <p role="alert">Could not list: {list.error.message}</p>
      )}
      {!list.isPending && items.length === 0 && <p data-testid="empty">No documents yet.</p>}
      {items.length > 0 && (
        <table className="listing" aria-labelledby="docs-title">
          <thead>
            <tr>
              <th scope="col">id</th>
              <th scope="col">ETag</th>
              <th scope="col">Last-Modified</th>
            </tr>
          </thead>
          <tbody>
            {items.map((it) => (
              <tr
                key={it.id}
                className={lastChange.has(it.id) ? 'changed-recently' : undefined}
                data-changed={lastChange.has(it.id) ? 'true' : undefined}
              >
                <td>
                  <a href={documentHref(collection, it.id)}>{it.id}</a>
                </td>
                <td>
                  <code>{it.etag}</code>
                </td>
                <td>{it.lastModified}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {live.recent.length > 0 && (
        <details className="live-log">
          <summary>Recent changes ({live.recent.length})</summary>
          <ol aria-label="Changes, newest first" data-testid="live-log">
            {live.recent.map((c) => (
              // One cursor per feed page: the id and the new ETag tell its changes apart.
              <li key={`${c.cursor} ${c.id} ${c.etag ?? 'deleted'}`}>
                <code>{c.id}</code> {c.deleted ? 'deleted' : `saved ${c.etag ?? ''}`}
              </li>
            ))}
          </ol>
        </details>
      )}
      <div className="actions">
        {cursors.length > 1 && (
          <button type="button" onClick={() => setCursors((c) => c.slice(0, -1))}>
            Previous page
          </button>
        )}
        {list.data?.value.next && (
          <button
            type="button"
            onClick={() => setCursors((c) => [...c, list.data?.value.next ?? null])}
          >
            Next page
          </button>
        )}
      </div>
      <CreateForm collection={collection} />
    </section>
  );
}

function CreateForm(props: { collection: string }) {
  const [id, setId] = useState('');
  const [text, setText] = useState('{\n  "title": "untitled"\n}');
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const create = useCreateDocument();
  const parsed = parseJson(text);
  const idOk = validName(id);

  function submit(e?: React.FormEvent) {
    e?.preventDefault();
    if (!idOk || !parsed.ok || create.isPending) return;
    const url = documentUrl(props.collection, id);
    create.mutate(
      { url, value: parsed.value },
      {
        onSuccess: () => {
          location.hash = documentHref(props.collection, id);
        },
        onError: (err) =>
          setMessage({
            kind: 'error',
            text:
              err instanceof AlreadyExistsError
                ? `Not created: “${id}” already exists in “${props.collection}”. Nothing was overwritten.`
                : `Not created: ${err.message}`,
          }),
      },
    );
  }

  return (
    <details className="create" open>
      <summary>New document</summary>
      <form onSubmit={submit} aria-labelledby="create-title">
        <h3 id="create-title" className="visually-hidden">
          Create a document
        </h3>
        <label htmlFor="new-id">Document id</label>
        <input
          id="new-id"
          name="id"
          value={id}
          onChange={(e) => {
            setId(e.target.value);
            setMessage(null);
          }}
          placeholder="e.g. doc-1"
          autoComplete="off"
          aria-describedby="new-id-help"
          aria-invalid={id !== '' && !idOk}
        />
        <small id="new-id-help">
          1–128 of A–Z a–z 0–9 . _ ~ - (create only: an existing id is refused)
        </small>
        <h4 id="new-json-label" className="editor-label">
          Initial JSON
        </h4>
        <JsonEditor
          value={text}
          onChange={setText}
          labelledBy="new-json-label"
          testId="new-editor"
        />
        {!parsed.ok && (
          <p className="banner error" role="alert">
            Invalid JSON: {parsed.message}
          </p>
        )}
        <button
          type="submit"
          className="primary"
          disabled={!idOk || !parsed.ok || create.isPending}
        >
          Create (only if new)
        </button>
        {message && (
          <p
            className={`banner ${message.kind}`}
            role={message.kind === 'error' ? 'alert' : 'status'}
            data-testid="create-message"
          >
            {message.text}
          </p>
        )}
      </form>
    </details>
  );
}
