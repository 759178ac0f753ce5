import { useState } from 'react';
import ReactMarkdown from 'react-markdown';
import rehypeHighlight from 'rehype-highlight';

/** Only https and mailto links are shown as links; anything else is plain text. */
function safeHref(href: string | undefined): string | undefined {
  if (!href) return undefined;
  try {
    const url = new URL(href);
    return url.protocol === 'https:' || url.protocol === 'mailto:' ? url.toString() : undefined;
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
          onClick={() => void navigator.clipboard?.writeText(text).then(() => setCopied(true), () => undefined)}
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
 * Model output is untrusted: rendered as Markdown with no raw HTML (react-markdown
 * drops it), images not loaded, and links opened outside only for https.
 */
export function Markdown({ text }: { text: string }) {
  return (
    <ReactMarkdown
      skipHtml
      rehypePlugins={[[rehypeHighlight, { detect: false, ignoreMissing: true }]]}
      components={{
        a: ({ href, children }) => {
          const safe = safeHref(href);
          return safe ? (
            <a href={safe} target="_blank" rel="noreferrer noopener">
              {children}
            </a>
          ) : (
            <span>{children}</span>
          );
        },
        img: ({ alt }) => <span className="muted">[image: {alt}]</span>,
        pre: ({ children }) => <>{children}</>,
        code: ({ className, children }) =>
          /language-/.test(className ?? '') || textOf(children).includes('\n') ? <CodeBlock className={className}>{children}</CodeBlock> : <code>{children}</code>,
      }}
    >
      {text}
    </ReactMarkdown>
  );
}
