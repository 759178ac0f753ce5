import { createHash, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { writeFileAtomic } from '../platform/atomic-file';

/** The link's TLS identity: generated once per data folder and kept; paired machines pin its fingerprint. */
export interface LinkIdentity {
  key: string;
  cert: string;
  /** SHA-256 of the certificate (DER), base64url. */
  fingerprint: string;
}

/** SHA-256 of a certificate's DER bytes, base64url: what a pairing code carries and a link pins. */
export function fingerprintOf(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

function fingerprintOfPem(pem: string): string {
  return fingerprintOf(new X509Certificate(pem).raw);
}

/**
 * Loads `<dataDir>/link/identity.json`, or makes a self-signed certificate
 * (ECDSA P-256, 20 years: no CA is involved, the fingerprint is the trust) and
 * keeps it, readable by this user only.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<LinkIdentity> {
  const dir = path.join(dataDir, 'link');
  const file = path.join(dir, 'identity.json');
  try {
    const stored = JSON.parse(await fs.readFile(file, 'utf8')) as { key?: unknown; cert?: unknown };
    if (typeof stored.key === 'string' && typeof stored.cert === 'string') {
      return { key: stored.key, cert: stored.cert, fingerprint: fingerprintOfPem(stored.cert) };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      // An unreadable identity is replaced: paired machines will then refuse this one and say so (the fingerprint changed).
    }
  }
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: `Freehold on ${os.hostname().slice(0, 50) || 'this machine'}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 24 * 3600 * 1000),
    notAfterDate: new Date(now.getTime() + 20 * 365 * 24 * 3600 * 1000),
  });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify({ key: pems.private, cert: pems.cert }));
  return { key: pems.private, cert: pems.cert, fingerprint: fingerprintOfPem(pems.cert) };
}
