import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isLoopbackAddress } from '../../shared/loopback';

describe('isLoopbackAddress (shared by the host, the UI and test fakes)', () => {
  it('counts 127.0.0.0/8, ::1 in every spelling, IPv4-mapped loopback and localhost', () => {
    for (const host of [
      '127.0.0.1',
      '127.255.255.254',
      '127.0.0.2',
      'localhost',
      'LOCALHOST',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '0000:0000:0000:0000:0000:0000:0000:0001',
      '::0001',
      '::ffff:127.0.0.1',
      '[::ffff:127.1.2.3]',
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:127.0.0.1',
    ])
      expect(isLoopbackAddress(host), host).toBe(true);
  });

  it('refuses names that only look local, other addresses and malformed literals', () => {
    for (const host of [
      '127.lan',
      '127.0.0.1.evil.example',
      '127.1',
      '0127.0.0.1',
      '127.0.0.256',
      '0.0.0.0',
      '::',
      '192.168.1.2',
      '::2',
      '::ffff:10.0.0.1',
      'fe80::1',
      '::1%lo',
      '1::1::1',
      '12345::1',
      '::1:',
      'localhost.',
      'example.com',
      '',
    ])
      expect(isLoopbackAddress(host), host).toBe(false);
  });

  it('agrees with Node on which of these are IP literals at all', () => {
    for (const host of ['::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '1::1::1', '12345::1', '127.1'])
      expect(isIP(host) !== 0 || !isLoopbackAddress(host), host).toBe(true);
  });
});
