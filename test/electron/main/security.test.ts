import { describe, expect, it } from 'vitest';
import { isAppUrl, isSafeExternalUrl, isTrustedSender } from '../../../electron/main/security';

describe('Electron security rules', () => {
  it('trusts only the app origin, by scheme and exact host', () => {
    expect(isAppUrl('app://freehold/index.html')).toBe(true);
    expect(isAppUrl('app://freehold.evil.example/index.html')).toBe(false);
    expect(isAppUrl('app://user@freehold/')).toBe(false);
    expect(isAppUrl('https://freehold/')).toBe(false);
    expect(isAppUrl('not a url')).toBe(false);
    expect(isTrustedSender({ url: 'app://freehold/', parent: null } as never)).toBe(true);
    expect(isTrustedSender({ url: 'app://freehold/', parent: {} } as never)).toBe(false);
    expect(isTrustedSender(null)).toBe(false);
  });

  it('opens only plain https links externally', () => {
    expect(isSafeExternalUrl('https://huggingface.co/')).toBe(true);
    for (const url of [
      'http://example.com',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'smb://host/share',
      'ms-msdt:/id',
      'https://user:pw@example.com/',
    ]) {
      expect(isSafeExternalUrl(url)).toBe(false);
    }
  });
});
