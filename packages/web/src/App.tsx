import { useEffect, useState } from 'react';
import { CollectionView } from './components/CollectionView.js';
import { DocumentView } from './components/DocumentView.js';
import { StatsPanel } from './components/StatsPanel.js';
import { collectionHref, useRoute, validName } from './route.js';

const INTERVAL_KEY = 'ifmatch.revalidateSeconds';
const RECENT_KEY = 'ifmatch.recentCollections';

/** Extra revalidation interval in seconds: ?interval= overrides the saved setting; 0 = off. */
function initialInterval(): number {
  const fromUrl = new URLSearchParams(location.search).get('interval');
  // Off by default: documents and listings follow the server live; polling is optional.
  const raw = fromUrl ?? localStorage.getItem(INTERVAL_KEY) ?? '0';
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

function loadRecent(): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(v)
      ? v.filter((x): x is string => typeof x === 'string' && validName(x))
      : [];
  } catch {
    return [];
  }
}

export function App() {
  const route = useRoute();
  const [seconds, setSeconds] = useState(initialInterval);
  const [recent, setRecent] = useState(loadRecent);
  const current = route.view === 'home' ? '' : route.collection;
  const [name, setName] = useState(current);
  const nameOk = validName(name);

  useEffect(() => setName(current), [current]);
  useEffect(() => {
    if (!current || !validName(current)) return;
    setRecent((r) => {
      const next = [current, ...r.filter((x) => x !== current)].slice(0, 8);
      localStorage.setItem(RECENT_KEY, JSON.stringify(next));
      return next;
    });
  }, [current]);

  const interval = seconds > 0 ? seconds * 1000 : false;

  // The window title names the view: useful with many tabs and for screen readers.
  useEffect(() => {
    const where =
      route.view === 'document'
        ? `${route.id} — ${route.collection}`
        : route.view === 'collection'
          ? route.collection
          : '';
    document.title = where ? `${where} — ifmatch` : 'ifmatch — shared JSON documents';
  }, [route]);

  return (
    <>
      <header>
        <h1>
          <a href="#/">ifmatch</a> <small>shared JSON documents</small>
        </h1>
        <form
          className="open"
          onSubmit={(e) => {
            e.preventDefault();
            if (nameOk) location.hash = collectionHref(name);
          }}
        >
          <label htmlFor="collection-name">Collection</label>
          <input
            id="collection-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="e.g. notes"
            autoComplete="off"
            aria-invalid={name !== '' && !nameOk}
          />
          <button type="submit" disabled={!nameOk}>
            Open
          </button>
        </form>
        <label className="interval">
          Also revalidate every{' '}
          <input
            type="number"
            min={0}
            max={3600}
            value={seconds}
            onChange={(e) => {
              const n = Math.max(0, Number(e.target.value) || 0);
              setSeconds(n);
              localStorage.setItem(INTERVAL_KEY, String(n));
            }}
          />{' '}
          s (0 = off)
        </label>
      </header>
      <div className="layout">
        <main>
          {route.view === 'home' && (
            <section aria-labelledby="home-title">
              <h2 id="home-title">Open a collection</h2>
              <p>
                Type a collection name above (there is no list of all collections). Documents are
                read with <code>If-None-Match</code> and saved with <code>If-Match</code>: an
                unchanged document costs a 304, and a save based on an old version is refused
                instead of overwriting someone else’s edit.
              </p>
              {recent.length > 0 && (
                <>
                  <h3>Recent</h3>
                  <ul>
                    {recent.map((c) => (
                      <li key={c}>
                        <a href={collectionHref(c)}>{c}</a>
                      </li>
                    ))}
                  </ul>
                </>
              )}
            </section>
          )}
          {route.view !== 'home' && !validName(route.collection) && (
            <p role="alert">Invalid collection name.</p>
          )}
          {route.view === 'collection' && validName(route.collection) && (
            <CollectionView
              key={route.collection}
              collection={route.collection}
              interval={interval}
            />
          )}
          {route.view === 'document' &&
            validName(route.collection) &&
            (validName(route.id) ? (
              <DocumentView
                key={`${route.collection}/${route.id}`}
                collection={route.collection}
                id={route.id}
                interval={interval}
              />
            ) : (
              <p role="alert">Invalid document id.</p>
            ))}
        </main>
        <StatsPanel />
      </div>
    </>
  );
}
