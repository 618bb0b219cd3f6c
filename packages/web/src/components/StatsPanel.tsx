import { useRequestStats } from '@ifmatch/react-query';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** Requests, 304s and the bytes the 304s did not download. */
export function StatsPanel() {
  const s = useRequestStats();
  return (
    <aside className="stats" aria-labelledby="stats-title" data-testid="stats">
      <h2 id="stats-title">Network</h2>
      <dl>
        <div>
          <dt>Requests</dt>
          <dd data-testid="stat-requests">{s.requests}</dd>
        </div>
        <div>
          <dt>304 Not Modified</dt>
          <dd data-testid="stat-304">{s.notModified}</dd>
        </div>
        <div>
          <dt>Bytes not downloaded</dt>
          <dd data-testid="stat-saved" title={`${s.bytesSaved} bytes`}>
            {formatBytes(s.bytesSaved)}
          </dd>
        </div>
      </dl>
      <details>
        <summary>Recent requests</summary>
        <ol className="log" aria-label="Recent requests, newest first">
          {s.recent.map((r) => (
            <li key={r.seq} className={r.status === 304 ? 'hit' : undefined}>
              <span className="status">{r.status}</span> {r.method} <code>{r.path}</code>
              {r.saved > 0 ? ` (saved ${formatBytes(r.saved)})` : ''}
            </li>
          ))}
        </ol>
      </details>
    </aside>
  );
}
