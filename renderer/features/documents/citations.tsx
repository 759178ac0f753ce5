import { Children, createContext, createElement, useContext, type ReactNode } from 'react';
import type { Components } from 'react-markdown';
import type { ReplySources } from '../../../shared/documents';
import { placeOf } from './Sources';

/** The citations of a reply: what each cited number names, and what a click does. */
export interface Citer {
  sources: ReplySources;
  open: (n: number) => void;
}

const MARKER = /\[(\d{1,4})\]/g;

/** "Source 1: report.pdf, page 3" for a number the reply cites that names a given passage; null for any other. */
export function citationLabel(sources: ReplySources, n: number): string | null {
  if (!sources.cited.includes(n)) return null;
  const passage = sources.passages.find((p) => p.n === n);
  return passage ? `Source ${n}: ${placeOf(passage)}` : null;
}

function citeText(text: string, cite: Citer, keyBase: string): ReactNode[] {
  const out: ReactNode[] = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    const n = Number(match[1]);
    const label = citationLabel(cite.sources, n);
    if (!label) continue;
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(
      <button
        key={`${keyBase}-${match.index}`}
        type="button"
        className="citation"
        aria-label={label}
        title={label}
        onClick={() => cite.open(n)}
      >
        [{n}]
      </button>,
    );
    last = match.index + match[0].length;
  }
  if (last === 0) return [text];
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/**
 * The text children of a Markdown element with each `[n]` the reply cites as a
 * button that opens passage n; elements inside (code, links) are left as they
 * are, each rendered by its own override.
 */
export function citeChildren(children: ReactNode, cite: Citer | undefined): ReactNode {
  if (!cite) return children;
  return Children.toArray(children).flatMap((child, i) => (typeof child === 'string' ? citeText(child, cite, String(i)) : [child]));
}

const CiteContext = createContext<Citer | undefined>(undefined);
export const CiteProvider = CiteContext.Provider;

type Tag = 'p' | 'li' | 'strong' | 'em' | 'del' | 'td' | 'th' | 'h1' | 'h2' | 'h3' | 'h4' | 'h5' | 'h6';
const tags: Tag[] = ['p', 'li', 'strong', 'em', 'del', 'td', 'th', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6'];

function citing(tag: Tag) {
  function Cited({ node: _node, children, ...props }: { node?: unknown; children?: ReactNode } & Record<string, unknown>) {
    const cite = useContext(CiteContext);
    return createElement(tag, props, citeChildren(children, cite));
  }
  Cited.displayName = `Cited(${tag})`;
  return Cited;
}

/** react-markdown overrides of the elements that hold text: their `[n]` markers become citations (under a CiteProvider). */
export const citedComponents = Object.fromEntries(tags.map((tag) => [tag, citing(tag)])) as Pick<Components, Tag>;
