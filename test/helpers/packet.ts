// The frame builder lives in src/dataplane/packet.ts (rauta probe needs it in
// production); tests keep importing it from here.
export * from '../../src/dataplane/packet.js';
