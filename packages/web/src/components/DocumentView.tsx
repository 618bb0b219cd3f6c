import {
  AlreadyExistsError,
  ConflictError,
  DocumentNotFoundError,
  type DocumentSnapshot,
  documentKey,
  primeDocument,
  useCreateDocument,
  useDeleteDocument,
  useDocument,
  useDocumentApi,
  useLastResponse,
  useSaveDocument,
} from '@ifmatch/react-query';
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { jsonEqual, merge3, parseJson, pretty } from '../json-diff.js';
import { collectionHref, documentUrl } from '../route.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { type ConflictState, ConflictView } from './ConflictView.js';
import { JsonEditor } from './JsonEditor.js';

/** What this tab is editing: the state it loaded (base) and the editor text. */
interface Session {
  base: DocumentSnapshot;
  baseText: string;
  text: string;
}

type Notice = { kind: 'ok' | 'error'; text: string } | null;

const fromSnapshot = (s: DocumentSnapshot): Session => {
  const t = pretty(s.value);
  return { base: s, baseText: t, text: t };
};

export function DocumentView(props: { collection: string; id: string; interval: number | false }) {
  const { collection, id } = props;
  const url = documentUrl(collection, id);
  const api = useDocumentApi();
  const queryClient = useQueryClient();
  const doc = useDocument(url, { refetchInterval: props.interval });
  const lastStatus = useLastResponse(url);
  const save = useSaveDocument();
  const remove = useDeleteDocument();
  const create = useCreateDocument();

  const [session, setSession] = useState<Session | null>(null);
  const [conflict, setConflict] = useState<ConflictState | null>(null);
  const [deletedWhileEditing, setDeletedWhileEditing] = useState(false);
  const [notice, setNotice] = useState<Notice>(null);
  const [confirm, setConfirm] = useState<'delete' | 'keep-mine' | null>(null);
  const [updatedInPlace, setUpdatedInPlace] = useState(0);
  const conflictOpen = useRef(false);
  conflictOpen.current = conflict !== null;

  const text = session?.text;
  const parsed = useMemo(() => (text === undefined ? null : parseJson(text)), [text]);
  const dirty =
    session !== null &&
    session.text !== session.baseText &&
    !(parsed?.ok && jsonEqual(parsed.value, session.base.value));

  const data = doc.data;
  // Follow the server: load the first state; later states replace the text
  // only when this tab has no local edits (otherwise a banner says so).
  useEffect(() => {
    if (!data) return;
    setDeletedWhileEditing(false);
    setSession((s) => {
      if (!s) return fromSnapshot(data);
      if (s.base.etag === data.etag) return s.base === data ? s : { ...s, base: data };
      const unedited = s.text === s.baseText || jsonEqual(parseJsonOr(s.text), s.base.value);
      if (unedited && !conflictOpen.current) {
        setUpdatedInPlace((n) => n + 1);
        return fromSnapshot(data);
      }
      return s;
    });
  }, [data]);

  const notFound = doc.error instanceof DocumentNotFoundError;
  useEffect(() => {
    if (notFound && session) setDeletedWhileEditing(true);
  }, [notFound, session]);

  const changedElsewhere =
    !!data && !!session && data.etag !== session.base.etag && !conflict && dirty;

  function openConflict(e: ConflictError, mine: unknown, base: Session) {
    if (!e.currentETag) {
      setDeletedWhileEditing(true);
      setNotice({ kind: 'error', text: 'Not saved: the document was deleted elsewhere.' });
      return;
    }
    const theirsETag = e.currentETag;
    const show = (theirs: unknown) => {
      primeDocument(queryClient, {
        url,
        value: theirs,
        etag: theirsETag,
        lastModified: undefined,
        notModified: false,
      });
      setConflict({
        base: base.base.value,
        baseETag: base.base.etag,
        mine,
        theirs,
        theirsETag,
        merging: false,
      });
      setNotice(null);
    };
    if (e.current) show(e.current.value);
    // The server did not include the current document: read it (still conditional).
    else
      api.get(url).then(
        (s) => show(s.value),
        (err: unknown) => setNotice({ kind: 'error', text: String(err) }),
      );
  }

  function doSave(value: unknown, ifMatch: string, text: string) {
    if (!session) return;
    const at = session;
    save.mutate(
      { url, value, ifMatch },
      {
        onSuccess: (snap) => {
          setSession({ base: snap, baseText: pretty(snap.value), text });
          setConflict(null);
          setNotice({ kind: 'ok', text: `Saved. New ETag ${snap.etag ?? '(none)'}` });
        },
        onError: (e) => {
          if (e instanceof ConflictError) openConflict(e, value, at);
          else setNotice({ kind: 'error', text: `Not saved: ${e.message}` });
        },
      },
    );
  }

  function onSave() {
    if (!session || !parsed?.ok || !session.base.etag || save.isPending) return;
    if (!dirty && !conflict) {
      setNotice({ kind: 'ok', text: 'Nothing to save: no changes.' });
      return;
    }
    doSave(parsed.value, session.base.etag, session.text);
  }

  function theirsSnapshot(c: ConflictState): DocumentSnapshot {
    return {
      url,
      value: c.theirs,
      etag: c.theirsETag,
      lastModified: undefined,
      notModified: false,
    };
  }

  function takeTheirs() {
    if (!conflict) return;
    setSession(fromSnapshot(theirsSnapshot(conflict)));
    setConflict(null);
    setNotice({ kind: 'ok', text: 'Loaded their version; your edits were discarded.' });
  }

  function mergeByHand() {
    if (!conflict) return;
    const { merged, conflicts } = merge3(conflict.base, conflict.mine, conflict.theirs);
    // The editor now edits on top of theirs: Save sends If-Match with their ETag.
    const theirs = theirsSnapshot(conflict);
    setSession({ base: theirs, baseText: pretty(theirs.value), text: pretty(merged) });
    setConflict({ ...conflict, merging: true });
    setNotice({
      kind: 'ok',
      text:
        conflicts.length > 0
          ? 'Merging: the editor holds both sides; fields changed on both sides hold yours. Check them, then Save.'
          : 'Merging: the editor holds both sides’ changes. Check, then Save.',
    });
    requestAnimationFrame(() =>
      document.querySelector<HTMLElement>('[data-testid="doc-editor"] .cm-content')?.focus(),
    );
  }

  function confirmed() {
    const what = confirm;
    setConfirm(null);
    if (what === 'keep-mine' && conflict && session) {
      doSave(conflict.mine, conflict.theirsETag, pretty(conflict.mine));
    } else if (what === 'delete' && session?.base.etag) {
      remove.mutate(
        { url, ifMatch: session.base.etag },
        {
          onSuccess: () => {
            location.hash = collectionHref(collection);
          },
          onError: (e) => {
            if (e instanceof ConflictError) {
              setNotice({
                kind: 'error',
                text: `Not deleted: the document changed since this tab loaded it (loaded ${session.base.etag}, now ${e.currentETag ?? 'gone'}). Review the current version first.`,
              });
              void queryClient.invalidateQueries({ queryKey: documentKey(url) });
            } else if (e instanceof DocumentNotFoundError) {
              setNotice({ kind: 'error', text: 'Not deleted: it was already deleted elsewhere.' });
            } else setNotice({ kind: 'error', text: `Not deleted: ${e.message}` });
          },
        },
      );
    }
  }

  function recreate() {
    if (!parsed?.ok) return;
    const text = session?.text ?? '';
    create.mutate(
      { url, value: parsed.value },
      {
        onSuccess: (snap) => {
          setSession({ base: snap, baseText: pretty(snap.value), text });
          setDeletedWhileEditing(false);
          setConflict(null);
          setNotice({ kind: 'ok', text: `Re-created. ETag ${snap.etag ?? '(none)'}` });
        },
        onError: (e) =>
          setNotice({
            kind: 'error',
            text:
              e instanceof AlreadyExistsError
                ? 'Not created: someone re-created it meanwhile; nothing was overwritten. Reload to see it.'
                : `Not created: ${e.message}`,
          }),
      },
    );
  }

  if (!session) {
    if (notFound)
      return (
        <section aria-labelledby="doc-title">
          <h2 id="doc-title">
            {collection}/{id}
          </h2>
          <p role="alert">This document does not exist (404).</p>
          <a href={collectionHref(collection)}>Back to {collection}</a>
        </section>
      );
    if (doc.error)
      return (
        <p role="alert">
          Could not load {url}: {doc.error.message}
        </p>
      );
    return <p aria-busy="true">Loading {url}…</p>;
  }

  const busy = save.isPending || remove.isPending || create.isPending;
  const showEditor = !conflict || conflict.merging;
  const canSave = !!parsed?.ok && !!session.base.etag && !busy && !deletedWhileEditing;

  return (
    <section className="document" aria-labelledby="doc-title">
      <nav aria-label="Breadcrumb" className="crumbs">
        <a href={collectionHref(collection)}>{collection}</a> / <span>{id}</span>
      </nav>
      <h2 id="doc-title">{id}</h2>
      <dl className="meta">
        <div>
          <dt>ETag</dt>
          <dd>
            <code data-testid="etag">{session.base.etag ?? '—'}</code>
          </dd>
        </div>
        <div>
          <dt>Last-Modified</dt>
          <dd data-testid="last-modified">{session.base.lastModified ?? '—'}</dd>
        </div>
        <div>
          <dt>Last check</dt>
          <dd data-testid="last-check">
            {doc.isFetching
              ? 'checking…'
              : lastStatus === 304
                ? '304 Not Modified'
                : lastStatus === 200
                  ? '200 OK'
                  : lastStatus
                    ? String(lastStatus)
                    : '—'}
          </dd>
        </div>
        <div>
          <dt>Editor</dt>
          <dd data-testid="dirty">{dirty ? 'edited (not saved)' : 'no local edits'}</dd>
        </div>
      </dl>

      <div aria-live="polite" className="notices">
        {updatedInPlace > 0 && !dirty && (
          <p className="info" data-testid="updated-in-place">
            Updated in place to the latest version (changed elsewhere, you had no edits).
          </p>
        )}
      </div>
      {changedElsewhere && (
        <div className="banner warn" role="alert" data-testid="changed-elsewhere">
          <p>
            This document changed elsewhere while you were editing (now {data?.etag}). Your edits
            are kept; saving will show both versions so you can merge. Nothing is overwritten
            silently.
          </p>
          <button type="button" onClick={() => data && setSession(fromSnapshot(data))}>
            Discard my edits and load it
          </button>
        </div>
      )}
      {deletedWhileEditing && (
        <div className="banner warn" role="alert" data-testid="deleted-elsewhere">
          <p>This document was deleted elsewhere. Your text is still in the editor.</p>
          <button type="button" onClick={recreate} disabled={!parsed?.ok || busy}>
            Re-create it with my text
          </button>
        </div>
      )}
      {notice && (
        <p
          className={notice.kind === 'error' ? 'banner error' : 'banner ok'}
          role={notice.kind === 'error' ? 'alert' : 'status'}
          data-testid="notice"
        >
          {notice.text}
        </p>
      )}

      {conflict && (
        <ConflictView
          conflict={conflict}
          busy={busy}
          onTakeTheirs={takeTheirs}
          onKeepMine={() => setConfirm('keep-mine')}
          onMerge={mergeByHand}
        />
      )}

      {showEditor && (
        <>
          <h3 id="editor-label" className="editor-label">
            {conflict?.merging ? 'Merge here (saves with If-Match: their ETag)' : 'JSON'}
          </h3>
          <JsonEditor
            value={session.text}
            onChange={(text) => setSession((s) => (s ? { ...s, text } : s))}
            labelledBy="editor-label"
            onSave={onSave}
            testId="doc-editor"
          />
          {parsed && !parsed.ok && (
            <p className="banner error" role="alert" data-testid="json-error">
              Invalid JSON, cannot save: {parsed.message}
            </p>
          )}
          <div className="actions">
            <button
              type="button"
              className="primary"
              onClick={onSave}
              disabled={!canSave}
              aria-keyshortcuts="Control+S"
            >
              {save.isPending ? 'Saving…' : 'Save'}
            </button>
            {conflict?.merging && (
              <button type="button" onClick={takeTheirs} disabled={busy}>
                Cancel merge (take theirs)
              </button>
            )}
            <button
              type="button"
              className="danger"
              onClick={() => setConfirm('delete')}
              disabled={busy || deletedWhileEditing || !!conflict}
            >
              Delete…
            </button>
          </div>
        </>
      )}

      <ConfirmDialog
        open={confirm === 'delete'}
        title={`Delete ${id}?`}
        confirmLabel="Delete"
        danger
        onConfirm={confirmed}
        onCancel={() => setConfirm(null)}
      >
        <p>
          Deletes the version this tab loaded ({session.base.etag}). If it changed since, the server
          refuses and nothing is deleted.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm === 'keep-mine'}
        title="Overwrite their changes with yours?"
        confirmLabel="Save mine over theirs"
        danger
        onConfirm={confirmed}
        onCancel={() => setConfirm(null)}
      >
        <p>
          Your version replaces the current one ({conflict?.theirsETag}); their changes are lost
          unless they are in yours. If it changed yet again, you will see a new conflict.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function parseJsonOr(text: string): unknown {
  const r = parseJson(text);
  return r.ok ? r.value : Symbol('invalid');
}
