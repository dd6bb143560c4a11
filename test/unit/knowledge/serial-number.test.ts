import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDerCertificate } from '../../../src/adapters/spire/der.js';
import { parsePemCertificates } from '../../../src/knowledge/pem-certificates.js';
import { normalizeSerial } from '../../../src/knowledge/serial-number.js';
import { createTrustDomainCa } from '../../../src/sim/certs.js';

describe('one serial spelling', () => {
  it('normalises every wire spelling of a serial the same way', () => {
    for (const wire of ['0A1B', '0a1b', 'a1b', '00:0a:1b', '0A:1B']) assert.equal(normalizeSerial(wire), 'a1b', wire);
    assert.equal(normalizeSerial('00'), '0');
  });

  it('SPIRE DER, PEM bundles and the simulated Envoy agree on a certificate with a leading zero nibble', async () => {
    let ca = await createTrustDomainCa('example.org', Date.now());
    // node:crypto prints the serial with its leading zero nibble kept; find a CA that has one.
    for (let i = 0; i < 200 && !ca.cert.x509.serialNumber.startsWith('0'); i++) ca = await createTrustDomainCa('example.org', Date.now());
    assert.ok(ca.cert.x509.serialNumber.startsWith('0'), 'a serial with a leading zero nibble to test with');
    const fromDer = parseDerCertificate(ca.cert.der).serialHex;
    const fromPem = parsePemCertificates(ca.cert.pem, 'bundle').certificates[0]?.serialHex;
    assert.equal(fromDer, normalizeSerial(ca.cert.x509.serialNumber));
    assert.equal(fromPem, fromDer);
    assert.equal(ca.cert.serialHex, fromDer, "what the simulated Envoy's /certs serves");
    assert.equal(normalizeSerial(ca.cert.x509.serialNumber.toLowerCase()), fromDer, "Envoy's lowercase /certs spelling");
  });
});
