import { useMemo } from 'react';
import { formatPath, isPrefix, type JsonPath, pathKey } from '../json-diff.js';
import { type MergeSummary, mergesCleanly, summarizeMerge } from '../merge-summary.js';

interface Line {
  text: string;
  path: JsonPath;
}

/** Pretty-print like JSON.stringify(v, null, 2), remembering each line's key path. */
function jsonLines(
  value: unknown,
  path: JsonPath = [],
  indent = '',
  label = '',
  comma = '',
): Line[] {
  const open = (ch: string) => ({ text: `${indent}${label}${ch}`, path });
  if (Array.isArray(value) && value.length > 0) {
    return [
      open('['),
      ...value.flatMap((v, i) =>
        jsonLines(v, [...path, i], indent + '  ', '', i < value.length - 1 ? ',' : ''),
      ),
      { text: `${indent}]${comma}`, path },
    ];
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length > 0) {
      const obj = value as Record<string, unknown>;
      return [
        open('{'),
        ...keys.flatMap((k, i) =>
          jsonLines(
            obj[k],
            [...path, k],
            indent + '  ',
            `${JSON.stringify(k)}: `,
            i < keys.length - 1 ? ',' : '',
          ),
        ),
        { text: `${indent}}${comma}`, path },
      ];
    }
  }
  return [{ text: `${indent}${label}${JSON.stringify(value)}${comma}`, path }];
}

type Mark = 'conflict' | 'changed' | 'inside' | undefined;

function markOf(
  path: JsonPath,
  changed: readonly JsonPath[],
  conflicts: readonly JsonPath[],
): Mark {
  if (conflicts.some((c) => isPrefix(c, path))) return 'conflict';
  if (changed.some((c) => isPrefix(c, path))) return 'changed';
  if (path.length > 0 && changed.some((c) => isPrefix(path, c))) return 'inside';
  return undefined;
}

const GUTTER: Record<string, string> = { conflict: '!', changed: '~', inside: '·' };

function Pane(props: {
  id: string;
  title: string;
  subtitle: string;
  value: unknown;
  changed: readonly JsonPath[];
  conflicts: readonly JsonPath[];
}) {
  const lines = useMemo(() => jsonLines(props.value), [props.value]);
  return (
    <section className="pane" aria-labelledby={`${props.id}-title`} data-testid={props.id}>
      <h3 id={`${props.id}-title`}>
        {props.title} <small>{props.subtitle}</small>
      </h3>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: scrollable region must be reachable by keyboard */}
      <pre tabIndex={0}>
        {lines.map((l, i) => {
          const mark = markOf(l.path, props.changed, props.conflicts);
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: lines are positional
            <span key={i} className={mark ? `line ${mark}` : 'line'} data-mark={mark}>
              <span className="gutter" aria-hidden="true">
                {mark ? GUTTER[mark] : ' '}
              </span>
              {l.text}
              {'\n'}
            </span>
          );
        })}
      </pre>
    </section>
  );
}

export interface ConflictState {
  base: unknown;
  baseETag: string | undefined;
  mine: unknown;
  theirs: unknown;
  theirsETag: string;
  merging: boolean;
  /** `refused`: a save was answered 412; `live`: the change arrived while editing, nothing sent yet. */
  reason: 'refused' | 'live';
}

function PathList(props: { label: string; paths: readonly JsonPath[]; testId: string }) {
  if (props.paths.length === 0) return null;
  return (
    <li data-testid={props.testId}>
      {props.label}:{' '}
      {props.paths.map((p, i) => (
        <span key={pathKey(p)}>
          {i > 0 ? ', ' : ''}
          <code>{formatPath(p)}</code>
        </span>
      ))}
    </li>
  );
}

/** "Changed by you: /owner, changed elsewhere: /title" (and the paths both changed). */
export function MergePaths(props: { summary: MergeSummary }) {
  const { fromMine, fromTheirs, conflicts } = props.summary;
  return (
    <ul className="paths" aria-label="Changed fields">
      <PathList label="Changed by you" paths={fromMine} testId="paths-mine" />
      <PathList label="Changed elsewhere" paths={fromTheirs} testId="paths-theirs" />
      <PathList label="Changed on both sides (!)" paths={conflicts} testId="paths-both" />
    </ul>
  );
}

/** Base / mine / theirs, side by side, with the changed key paths marked. */
export function ConflictView(props: {
  conflict: ConflictState;
  busy: boolean;
  onTakeTheirs: () => void;
  onKeepMine: () => void;
  onMerge: () => void;
  /** Offered only when the sides changed different paths. */
  onMergeAutomatically: () => void;
}) {
  const c = props.conflict;
  const summary = useMemo(
    () => summarizeMerge(c.base, c.mine, c.theirs),
    [c.base, c.mine, c.theirs],
  );
  const { mineChanged, theirsChanged, conflicts } = summary;

  return (
    <section className="conflict-view" aria-labelledby="conflict-title" data-testid="conflict-view">
      <h2 id="conflict-title">
        {c.merging
          ? 'Merging: the three versions'
          : c.reason === 'live'
            ? 'Changed elsewhere: the three versions'
            : 'Conflict: the document changed elsewhere'}
      </h2>
      {!c.merging &&
        (c.reason === 'live' ? (
          <p>
            Someone saved a newer version while you were editing. Nothing of yours is saved yet and
            nothing was overwritten. Choose what to keep.
          </p>
        ) : (
          <p>
            Your save was refused (412 Precondition Failed) because someone saved a newer version
            after this tab loaded it. Nothing was overwritten. Choose what to keep.
          </p>
        ))}
      <MergePaths summary={summary} />
      {!c.merging && (
        <fieldset className="actions">
          <legend className="visually-hidden">Resolve the conflict</legend>
          {mergesCleanly(summary) && (
            <button
              type="button"
              className="primary"
              onClick={props.onMergeAutomatically}
              disabled={props.busy}
            >
              Merge automatically
            </button>
          )}
          <button type="button" onClick={props.onTakeTheirs} disabled={props.busy}>
            Take theirs
          </button>
          <button type="button" onClick={props.onKeepMine} disabled={props.busy}>
            Keep mine…
          </button>
          <button
            type="button"
            className={mergesCleanly(summary) ? undefined : 'primary'}
            onClick={props.onMerge}
            disabled={props.busy}
          >
            Merge by hand
          </button>
        </fieldset>
      )}
      <div className="panes">
        <Pane
          id="pane-base"
          title="Base"
          subtitle={`what this tab loaded ${c.baseETag ?? ''}`}
          value={c.base}
          changed={[...mineChanged, ...theirsChanged]}
          conflicts={conflicts}
        />
        <Pane
          id="pane-mine"
          title="Mine"
          subtitle="your edits"
          value={c.mine}
          changed={mineChanged}
          conflicts={conflicts}
        />
        <Pane
          id="pane-theirs"
          title="Theirs"
          subtitle={`current ${c.theirsETag}`}
          value={c.theirs}
          changed={theirsChanged}
          conflicts={conflicts}
        />
      </div>
      <p className="legend">
        <span className="gutter">~</span> changed from base, <span className="gutter">!</span>{' '}
        changed on both sides, <span className="gutter">·</span> contains a change.
      </p>
    </section>
  );
}
