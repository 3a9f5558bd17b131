/**
 * A throwaway certificate authority for HTTPS tests, made with the openssl
 * CLI in a temp dir: a CA, and server certificates it signs for the names a
 * test maps to 127.0.0.1 (Chromium trusts the CA through its SPKI hash, so
 * nothing is installed system-wide).
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
  /** PEM of the CA certificate (for Node clients' `ca`) */
  pem: string;
  /** a server certificate for `names` signed by this CA; returns its cert and key file paths and the base64 SHA-256 of its SubjectPublicKeyInfo (what Chromium's --ignore-certificate-errors-spki-list takes) */
  issue(names: string[], file?: string): { certFile: string; keyFile: string; spki: string };
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

export function makeCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ca-'));
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Gatehouse test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const pem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  let n = 0;
  return {
    dir,
    certFile: join(dir, 'ca.pem'),
    keyFile: join(dir, 'ca.key'),
    pem,
    issue(names, file = `server-${++n}`) {
      const san = names.map((name) => (/^[\d.]+$/.test(name) || name.includes(':') ? `IP:${name}` : `DNS:${name}`)).join(',');
      writeFileSync(join(dir, `${file}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
      openssl(
        [
          'req',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          `${file}.key`,
          '-out',
          `${file}.csr`,
          '-subj',
          `/CN=${names[0] ?? 'localhost'}`,
        ],
        dir,
      );
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${file}.csr`,
          '-CA',
          'ca.pem',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-out',
          `${file}.pem`,
          '-days',
          '2',
          '-extfile',
          `${file}.ext`,
        ],
        dir,
      );
      const certFile = join(dir, `${file}.pem`);
      return { certFile, keyFile: join(dir, `${file}.key`), spki: spkiHash(readFileSync(certFile, 'utf8')) };
    },
  };
}

function spkiHash(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
