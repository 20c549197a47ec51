// FNV-1a 64 over bytes, identical to the XDP program's path hash (bpf/rauta_parse.h).
// Pure: ROUTES keys are built with it, so a route written here is found by a packet.

const OFFSET_BASIS = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** FNV-1a 64 of the bytes (a string is hashed as its UTF-8 bytes, as it appears on the wire). */
export function fnv1a64(input: Uint8Array | string): bigint {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  let h = OFFSET_BASIS;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * PRIME) & MASK64;
  }
  return h;
}
