import { useState } from 'react';
import ReactMarkdown from 'react-markdown';
import rehypeHighlight from 'rehype-highlight';
import { useReportProblem } from '../../app/problems';
import { copyText } from '../../components/clipboard';
import { CiteProvider, citedComponents, type Citer } from '../documents/citations';

/**
 * Only https and mailto links are shown as links; anything else is plain text,
 * as is an address with a user name (`https://bank.example@evil.example`
 * goes to evil.example), which the desktop shell would not open anyway.
 */
function safeUrl(href: string | undefined): URL | undefined {
  if (!href) return undefined;
  try {
    const url = new URL(href);
    if (url.username !== '' || url.password !== '') return undefined;
    return url.protocol === 'https:' || url.protocol === 'mailto:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function textOf(node: React.ReactNode): string {
  if (node === null || node === undefined || typeof node === 'boolean') return '';
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (Array.isArray(node)) return node.map(textOf).join('');
  if (typeof node === 'object' && 'props' in node) return textOf((node.props as { children?: React.ReactNode }).children);
  return '';
}

function CodeBlock({ children, className }: { children?: React.ReactNode; className?: string }) {
  const [copied, setCopied] = useState(false);
  const report = useReportProblem();
  const text = textOf(children).replace(/\n$/, '');
  const language = /language-([\w-]+)/.exec(className ?? '')?.[1];
  return (
    <div className="code-block">
      <div className="code-head">
        <span className="muted">{language ?? 'code'}</span>
        <button
          type="button"
          className="secondary"
          aria-label="Copy code"
          onClick={() =>
            copyText(text).then(
              () => setCopied(true),
              (e: unknown) => report(e, 'Could not copy the code'),
            )
          }
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <pre>
        <code className={className}>{children}</code>
      </pre>
    </div>
  );
}

/**
 * A link whose text is not exactly its address shows where it really goes,
 * after it and in the app's own muted style (which model output cannot
 * produce): `[https://bank.example](https://evil.example)` reads
 * "https://bank.example (evil.example)". The host is the URL parser's, so an
 * international name shows in punycode (`xn--pple-43d.com` for a Cyrillic
 * "аpple.com"); the full address is the tooltip.
 */
function ExternalLink({ url, children }: { url: URL; children?: React.ReactNode }) {
  const text = textOf(children).trim();
  const target = url.protocol === 'mailto:' ? url.pathname : url.host;
  const plain = text === url.href || `${text}/` === url.href || (url.protocol === 'mailto:' && text === target);
  return (
    <>
      <a href={url.href} title={url.href} target="_blank" rel="noreferrer noopener">
        {children}
      </a>
      {plain ? null : <span className="muted link-target"> ({target})</span>}
    </>
  );
}

/**
 * Model output is untrusted: rendered as Markdown with no raw HTML (react-markdown
 * drops it), images not loaded, and links opened outside only for https, with
 * their real host shown wherever their text says something else. With `cite`
 * (a reply given passages of documents), each `[n]` it cites in its text is a
 * button that opens passage n; code is left as it is.
 */
export function Markdown({ text, cite }: { text: string; cite?: Citer }) {
  return (
    <CiteProvider value={cite}>
      <ReactMarkdown
        skipHtml
        rehypePlugins={[[rehypeHighlight, { detect: false, ignoreMissing: true }]]}
        components={{
          ...citedComponents,
          a: ({ href, children }) => {
            const url = safeUrl(href);
            return url ? <ExternalLink url={url}>{children}</ExternalLink> : <span>{children}</span>;
          },
          img: ({ alt }) => <span className="muted">[image: {alt}]</span>,
          pre: ({ children }) => <>{children}</>,
          code: ({ className, children }) =>
            /language-/.test(className ?? '') || textOf(children).includes('\n') ? (
              <CodeBlock className={className}>{children}</CodeBlock>
            ) : (
              <code>{children}</code>
            ),
        }}
      >
        {text}
      </ReactMarkdown>
    </CiteProvider>
  );
}
