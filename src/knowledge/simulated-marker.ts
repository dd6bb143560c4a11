/**
 * The marker of everything the simulated fleet serves (src/sim writes it, src/execute reads it off
 * the target, see action.ts): a label/annotation key, and the RDN in the subject of its SPIRE CAs.
 */
export const SIMULATED_MARKER = 'spire-healer.io/simulated';
/** The RDN in a simulated SPIRE CA's subject. */
export const SIMULATED_CA_RDN = `OU=${SIMULATED_MARKER}`;
