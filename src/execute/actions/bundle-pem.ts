/**
 * The trust bundle as sync_bundle writes it (concatenated PEM CERTIFICATE blocks, what SPIRE's
 * k8sbundle notifier writes) and how a written copy is compared with the server's: by the set of
 * SHA-256 fingerprints of the DER certificates, so order and line wrapping do not matter.
 */
import { createHash } from 'node:crypto';
import type { SpireBundle } from '../../ports/spire.port.js';

/** Concatenated PEM CERTIFICATE blocks of the server's X.509 authorities. */
export function bundlePem(bundle: SpireBundle): string {
  return bundle.x509Authorities
    .map((a) => {
      const b64 = Buffer.from(a.certificate.der).toString('base64');
      return `-----BEGIN CERTIFICATE-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
    })
    .join('');
}

/** The server's authorities' SHA-256 fingerprints, sorted. */
export const serverPrints = (b: SpireBundle): string[] => b.x509Authorities.map((a) => a.certificate.sha256).sort();

/** Fingerprints abbreviated for a detail line. */
export const short = (prints: readonly string[]): string => prints.map((p) => p.slice(0, 12)).join(', ');

/**
 * The SHA-256 fingerprints (sorted) of the CERTIFICATE blocks in `text`, and what else is wrong
 * with it (no block, a block that is not base64, text outside the blocks).
 */
export function pemPrints(text: string): { readonly prints: string[]; readonly problems: string[] } {
  const prints: string[] = [];
  const problems: string[] = [];
  const block = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (const m of text.matchAll(block)) {
    const body = (m[1] ?? '').replace(/\s+/g, '');
    if (body === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
      problems.push('a CERTIFICATE block is not base64');
      continue;
    }
    prints.push(createHash('sha256').update(Buffer.from(body, 'base64')).digest('hex'));
  }
  if (text.replace(block, '').trim() !== '') problems.push('text outside the CERTIFICATE blocks');
  if (prints.length === 0 && problems.length === 0) problems.push('no CERTIFICATE block');
  return { prints: prints.sort(), problems };
}

/** Whether `prints` (a written copy, with its problems) is exactly the server's authorities. */
export function holdsExactly(
  copy: { readonly prints: readonly string[]; readonly problems: readonly string[] },
  server: SpireBundle,
): boolean {
  const want = serverPrints(server);
  const have = [...copy.prints].sort();
  return copy.problems.length === 0 && have.length === want.length && have.every((p, i) => p === want[i]);
}
