import { describe, expect, it } from 'vitest';
import { apiStatus } from '../../../electron/api/api-status';
import { allowedHostHeaders, isLoopbackAddress } from '../../../electron/platform/http-security';
import { defaultSettings } from '../../../shared/settings';

describe('loopback addresses', () => {
  it('accepts the loopback range, ::1 in any spelling, IPv4-mapped loopback and localhost', () => {
    for (const host of [
      '127.0.0.1',
      '127.0.0.2',
      '127.255.255.254',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      '[::ffff:127.0.0.1]',
      'localhost',
      'LocalHost',
    ]) {
      expect(isLoopbackAddress(host), host).toBe(true);
    }
  });

  it('refuses names that merely begin with "127." and every other address', () => {
    for (const host of [
      '127.lan',
      '127.0.0.1.evil.example',
      '127.evil.example',
      '127.1', // a shorthand the resolver may expand, or a name: not taken on trust
      '0.0.0.0',
      '::',
      '192.168.1.10',
      '128.0.0.1',
      '::ffff:192.168.1.10',
      '::2',
      'localhost.evil.example',
      'mylocalhost',
      '',
    ]) {
      expect(isLoopbackAddress(host), host).toBe(false);
    }
  });

  it('answers to a loopback bind address other than 127.0.0.1 by its own name too', () => {
    expect(allowedHostHeaders('127.0.0.2', 8080)).toContain('127.0.0.2:8080');
    expect(allowedHostHeaders('::1', 8080)).toContain('[::1]:8080');
    expect(allowedHostHeaders('127.0.0.1', 8080)).toEqual(new Set(['127.0.0.1:8080', 'localhost:8080', '[::1]:8080']));
  });

  it('requires the API key for a host that only looks like loopback, even when the setting turns it off', () => {
    const status = (host: string, override?: { host: string }) =>
      apiStatus({ ...defaultSettings.api, host, requireKey: false }, override, { server: undefined, key: 'k', error: null });
    expect(status('127.lan').requireKey).toBe(true);
    expect(status('0.0.0.0').requireKey).toBe(true);
    expect(status('127.0.0.1').requireKey).toBe(false);
    expect(status('::1').requireKey).toBe(false);
    // The command line's address (npm run serve --host) decides, not the one in the settings.
    expect(status('127.0.0.1', { host: '192.168.1.5' })).toMatchObject({ host: '192.168.1.5', requireKey: true });
  });
});
