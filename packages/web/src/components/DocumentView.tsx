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
  useDocumentUpdates,
  useLastResponse,
  useSaveDocument,
} from '@ifmatch/react-query';
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { formatPath, type JsonPath, jsonEqual, merge3, parseJson, pretty } from '../json-diff.js';
import { type MergeSummary, mergesCleanly, summarizeMerge } from '../merge-summary.js';
import { collectionHref, documentUrl } from '../route.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { type ConflictState, ConflictView, MergePaths } from './ConflictView.js';
import { JsonEditor } from './JsonEditor.js';

/** What this tab is editing: the state it loaded (base) and the editor text. */
interface Session {
  base: DocumentSnapshot;
  baseText: string;
  text: string;
}

const LIVE_LABEL = {
  live: 'following changes',
  connecting: 'connecting…',
  paused: 'paused (tab hidden)',
  stopped: 'stopped',
} as const;

type Notice = { kind: 'ok' | 'error'; text: string } | null;

/** What "Merge automatically" did, shown until the next save or edit elsewhere. */
interface AutoMerged {
  summary: MergeSummary;
  etag: string | undefined;
}

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
  // Live: every version saved anywhere arrives in `doc.data` as it commits.
  const live = useDocumentUpdates(url);
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
  const [autoMerged, setAutoMerged] = useState<AutoMerged | null>(null);
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
      const mine = parseJsonOr(s.text);
      const unedited = s.text === s.baseText || jsonEqual(mine, s.base.value);
      if (unedited && !conflictOpen.current) {
        setUpdatedInPlace((n) => n + 1);
        setAutoMerged(null);
        return fromSnapshot(data);
      }
      // The new version is exactly what the editor holds (this tab's own save
      // arriving through the watch first, or the same edit made elsewhere):
      // nothing to merge, it becomes the base.
      if (jsonEqual(mine, data.value)) return { ...s, base: data, baseText: pretty(data.value) };
      return s;
    });
  }, [data]);

  const notFound = doc.error instanceof DocumentNotFoundError;
  useEffect(() => {
    if (notFound && session) setDeletedWhileEditing(true);
  }, [notFound, session]);

  // Unsaved edits and a newer version elsewhere: said at once, before any save.
  const changedElsewhere =
    !!data &&
    !!session &&
    data.etag !== session.base.etag &&
    dirty &&
    !save.isPending &&
    (!conflict || conflict.merging);
  const mineValue = parsed?.ok ? parsed.value : undefined;
  const liveSummary = useMemo(
    () =>
      changedElsewhere && session && data && parsed?.ok
        ? summarizeMerge(session.base.value, mineValue, data.value)
        : null,
    [changedElsewhere, session, data, parsed, mineValue],
  );

  // The merge view shows the latest version elsewhere as "theirs", also when
  // another one arrives while the view is open. Only on arrival (deps: data):
  // when the view opens, `data` is already its "theirs".
  useEffect(() => {
    const etag = data?.etag;
    if (!data || !etag) return;
    setConflict((c) =>
      c && !c.merging && c.theirsETag !== etag ? { ...c, theirs: data.value, theirsETag: etag } : c,
    );
  }, [data]);

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
        reason: 'refused',
      });
      setAutoMerged(null);
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
          setAutoMerged(null);
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
    setAutoMerged(null);
    setNotice({ kind: 'ok', text: 'Loaded their version; your edits were discarded.' });
  }

  /** The merge view for a change that arrived while editing (nothing sent yet). */
  function openLiveConflict() {
    if (!session || !data?.etag || !parsed?.ok) return;
    setConflict({
      base: session.base.value,
      baseETag: session.base.etag,
      mine: parsed.value,
      theirs: data.value,
      theirsETag: data.etag,
      merging: false,
      reason: 'live',
    });
    setAutoMerged(null);
    setNotice(null);
  }

  /**
   * One click when the sides changed different paths: the editor holds both
   * sides' changes on top of their version, so Save sends If-Match with
   * their (the current) ETag. Nothing is saved until the person saves.
   */
  function mergeAutomatically(base: unknown, mine: unknown, theirs: DocumentSnapshot) {
    const summary = summarizeMerge(base, mine, theirs.value);
    if (!mergesCleanly(summary)) return;
    setSession({ base: theirs, baseText: pretty(theirs.value), text: pretty(summary.merged) });
    setConflict(null);
    setAutoMerged({ summary, etag: theirs.etag });
    setNotice(null);
    focusEditor();
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
    focusEditor();
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
          <dt>Live</dt>
          <dd data-testid="live" title={live.error?.message}>
            {LIVE_LABEL[live.state]}
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
            Updated live: someone saved a new version elsewhere (you had no edits, so the editor
            shows it).
          </p>
        )}
      </div>
      {changedElsewhere && data && session && (
        <div className="banner warn" role="alert" data-testid="changed-elsewhere">
          <p>
            <strong>Changed elsewhere</strong> while you were editing (now {data.etag}). Your edits
            are kept and nothing is saved yet.
          </p>
          {liveSummary ? (
            <MergePaths summary={liveSummary} />
          ) : (
            <p>Your text is not valid JSON: fix it to merge.</p>
          )}
          <div className="actions">
            {liveSummary && mergesCleanly(liveSummary) && (
              <button
                type="button"
                className="primary"
                onClick={() => mergeAutomatically(session.base.value, mineValue, data)}
              >
                Merge automatically
              </button>
            )}
            {liveSummary && (
              <button type="button" onClick={openLiveConflict}>
                Show the merge view
              </button>
            )}
            <button
              type="button"
              onClick={() => {
                setSession(fromSnapshot(data));
                setConflict(null);
                setAutoMerged(null);
              }}
            >
              Discard my edits and load it
            </button>
          </div>
        </div>
      )}
      {autoMerged && !changedElsewhere && (
        <div className="banner ok" role="status" data-testid="auto-merged">
          <p>
            Merged automatically onto the current version ({autoMerged.etag}). Not saved yet: Save
            stores it with <code>If-Match: {autoMerged.etag}</code>.
          </p>
          <ul className="paths" aria-label="What the merge took">
            <MergedFrom label="Yours" paths={autoMerged.summary.fromMine} testId="merged-mine" />
            <MergedFrom
              label="From elsewhere"
              paths={autoMerged.summary.fromTheirs}
              testId="merged-theirs"
            />
          </ul>
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
          onMergeAutomatically={() =>
            mergeAutomatically(conflict.base, conflict.mine, theirsSnapshot(conflict))
          }
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

/** Back to the editor after a merge: the person checks the text, Ctrl/Cmd-S saves. */
function focusEditor() {
  requestAnimationFrame(() =>
    document.querySelector<HTMLElement>('[data-testid="doc-editor"] .cm-content')?.focus(),
  );
}

function MergedFrom(props: { label: string; paths: readonly JsonPath[]; testId: string }) {
  if (props.paths.length === 0) return null;
  return (
    <li data-testid={props.testId}>
      {props.label}: {props.paths.map(formatPath).join(', ')}
    </li>
  );
}

function parseJsonOr(text: string): unknown {
  const r = parseJson(text);
  return r.ok ? r.value : Symbol('invalid');
}
