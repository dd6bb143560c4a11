import { formatDuration } from '../../knowledge/svid-rotation.js';
import { heldFor, isFresh, latest, type Detector } from '../detector.js';
import { validationContextLags } from './trust-bundle-drift.detector.js';
import type { Finding } from '../finding.js';

/**
 * mtls_errors on a workload's Envoy: its listener has no certificate (empty cert_chain, or
 * connections reset as secrets_not_ready), or TLS failures (connection errors, verification
 * failures) exceed `mtlsErrorRatio` of its handshakes since it started and rose within
 * `mtlsWindowMs` (an old burst that stopped is not an incident). Causes: `no_certificate` (also
 * when both hold: the missing certificate explains the failures), `handshake_failures`.
 */
export const mtlsErrorsDetector: Detector = {
  type: 'mtls_errors',
  detect(input) {
    const findings: Finding[] = [];
    for (const w of input.workloads) {
      const certs = latest(input, w.id, 'envoy.certs');
      const stats = latest(input, w.id, 'envoy.stats');
      const noCert = isFresh(certs, input) && certs.data.kind === 'envoy.certs' && certs.data.chain.length === 0;
      if (!isFresh(stats, input) || stats.data.kind !== 'envoy.stats') {
        if (noCert)
          findings.push({
            type: 'mtls_errors',
            subject: w.id,
            observedAt: certs.observedAt,
            evidence: [certs],
            cause: 'no_certificate',
            explanation: `Envoy for ${w.id} serves no certificate: its /certs shows an empty cert_chain, so every mTLS connection to it fails.`,
          });
        continue;
      }
      const d = stats.data;
      const rising = heldFor(stats, input.now) <= input.config.mtlsWindowMs;
      const sum = (f: (s: (typeof d.ssl)[number]) => number): number => d.ssl.reduce((n, s) => n + f(s), 0);
      const handshakes = sum((s) => s.handshake);
      // Verification failures on an Envoy whose CA set lags the server's bundle are that lag's symptom:
      // the trust-bundle drift detector owns them (after its grace), so they never open mTLS incidents.
      const lagging = validationContextLags(input, w.id, w.trustDomain);
      const failures = sum((s) => s.connectionError) + (lagging ? 0 : sum((s) => s.failVerifyError) + sum((s) => s.failVerifySan));
      const parts: string[] = [];
      const withoutCert = noCert || (d.secretsNotReady > 0 && rising);
      if (withoutCert) {
        parts.push(
          `its listener has no certificate${noCert ? ' (empty cert_chain in /certs)' : ''}: ${d.secretsNotReady} connection(s) reset as secrets_not_ready`,
        );
      }
      const ratio = failures / Math.max(1, handshakes + failures);
      if (rising && failures > 0 && ratio > input.config.mtlsErrorRatio) {
        parts.push(
          `${failures} TLS failure(s) against ${handshakes} handshake(s) since it started (${(ratio * 100).toFixed(1)}%, limit ${(input.config.mtlsErrorRatio * 100).toFixed(1)}%): ` +
            `connection errors ${sum((s) => s.connectionError)}, verification failures ${sum((s) => s.failVerifyError)}, SAN mismatches ${sum((s) => s.failVerifySan)}, still rising within ${formatDuration(input.config.mtlsWindowMs)}`,
        );
      }
      if (parts.length === 0) continue;
      findings.push({
        type: 'mtls_errors',
        subject: w.id,
        observedAt: stats.observedAt,
        evidence: noCert ? [stats, certs] : [stats],
        // A listener without a certificate explains its handshake failures too, so it is the cause when both hold.
        cause: withoutCert ? 'no_certificate' : 'handshake_failures',
        explanation: `Envoy for ${w.id}: ${parts.join('; ')}.`,
      });
    }
    return findings;
  },
};
