import { cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { Markdown } from '../../renderer/features/chat/Markdown';

afterEach(cleanup);

describe('Markdown for model output', () => {
  it('renders formatting, highlighted code with a copy button, and never raw HTML or scripts', () => {
    const text = [
      '**bold** and `inline`',
      '',
      '<script>window.pwned = 1</script><img src=x onerror="window.pwned=2"><b>raw</b>',
      '',
      '```js',
      'const answer = 42; // the answer',
      '```',
      '',
      '[safe](https://example.com) [unsafe](javascript:alert(1)) [file](file:///etc/passwd) ![pic](https://example.com/x.png)',
    ].join('\n');
    const { container, getByRole } = render(<Markdown text={text} />);
    expect(container.querySelector('strong')?.textContent).toBe('bold');
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('img')).toBeNull();
    expect(container.innerHTML).not.toContain('onerror');
    expect(container.querySelector('b')).toBeNull();
    expect(container.querySelector('.hljs-keyword')?.textContent).toBe('const');
    expect(container.querySelector('.hljs-comment')?.textContent).toBe('// the answer');
    expect(getByRole('button', { name: 'Copy code' })).toBeTruthy();
    const links = [...container.querySelectorAll('a')].map((a) => a.getAttribute('href'));
    expect(links).toEqual(['https://example.com/']);
    expect(container.textContent).toContain('[image: pic]');
  });
});

describe('links in model output show where they really go', () => {
  const link = (text: string) => {
    const { container } = render(<Markdown text={text} />);
    const a = container.querySelector('a');
    return { container, a, visible: container.textContent ?? '' };
  };

  it('shows the real host beside a link whose text names another place, and the full URL as its tooltip', () => {
    const { a, visible } = link('Log in at [https://bank.example](https://evil.example/login).');
    expect(a?.getAttribute('href')).toBe('https://evil.example/login');
    expect(a?.getAttribute('title')).toBe('https://evil.example/login');
    expect(visible).toContain('evil.example');
    expect(visible).toMatch(/https:\/\/bank\.example.*evil\.example/);
  });

  it('shows the host for a link with plain words as its text', () => {
    const { a, visible } = link('See [the docs](https://docs.example/guide).');
    expect(a?.getAttribute('title')).toBe('https://docs.example/guide');
    expect(visible).toContain('docs.example');
  });

  it('adds nothing when the text already is the address', () => {
    for (const text of ['<https://example.com>', '[https://example.com/a](https://example.com/a)']) {
      const { a, container } = link(text);
      expect(a?.getAttribute('title')).toBe(new URL(a!.getAttribute('href')!).toString());
      expect(container.textContent).toBe(a?.textContent);
      cleanup();
    }
  });

  it('shows an international (IDN) host in punycode, so a look-alike cannot pass for the real one', () => {
    // "аpple.com" with a Cyrillic "а".
    const { a, visible } = link('<https://\u0430pple.com/login>');
    expect(a?.getAttribute('href')).toBe('https://xn--pple-43d.com/login');
    expect(a?.getAttribute('title')).toBe('https://xn--pple-43d.com/login');
    expect(visible).toContain('xn--pple-43d.com');
    const named = link('[apple.com](https://\u0430pple.com/)');
    expect(named.visible).toContain('xn--pple-43d.com');
  });

  it('never makes a link of an address with a user name in it (https://bank.example@evil.example goes to evil.example)', () => {
    for (const text of ['<https://bank.example@evil.example/>', '[bank](https://bank.example:pw@evil.example/)']) {
      const { a, container } = link(text);
      expect(a).toBeNull();
      expect(container.textContent).not.toBe('');
      cleanup();
    }
  });
});
