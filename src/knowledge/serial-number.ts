/**
 * The one spelling of a certificate serial number in the model: lowercase hex, no separators, no
 * leading zeros ("0" for zero). Tools disagree on the wire: Envoy's /certs prints lowercase hex,
 * node:crypto uppercase with a leading zero byte kept, OpenSSL with colons. Adapters (and the
 * simulator, which plays the wire) apply this where a wire value becomes a model value, so stages
 * compare serials as they are.
 */
export function normalizeSerial(wire: string): string {
  return wire
    .toLowerCase()
    .replace(/[^0-9a-f]/g, '')
    .replace(/^0+(?=.)/, '');
}
