import { useEffect, useState } from 'react';

// Hash routes keep the app a single static index.html: the server needs no
// fallback rule, and every view has a shareable URL.
export type Route =
  | { view: 'home' }
  | { view: 'collection'; collection: string }
  | { view: 'document'; collection: string; id: string };

/** Collection and id grammar of the server (CONTRACT.md). */
export const NAME = /^[A-Za-z0-9._~-]{1,128}$/;
export const validName = (s: string) => NAME.test(s) && s !== '.' && s !== '..';

export function parseHash(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/');
  if (parts[0] !== 'c' || !parts[1]) return { view: 'home' };
  try {
    const collection = decodeURIComponent(parts[1]);
    if (parts[2]) return { view: 'document', collection, id: decodeURIComponent(parts[2]) };
    return { view: 'collection', collection };
  } catch {
    return { view: 'home' };
  }
}

export const collectionHref = (c: string) => `#/c/${encodeURIComponent(c)}`;
export const documentHref = (c: string, id: string) =>
  `#/c/${encodeURIComponent(c)}/${encodeURIComponent(id)}`;
export const documentUrl = (c: string, id: string) =>
  `/api/${encodeURIComponent(c)}/${encodeURIComponent(id)}`;

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}
