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
