// IPv4 addresses and "ip:port" endpoints as route files spell them. The
// patterns go into the JSON Schema (so editors flag a bad endpoint as the user
// types); the explain functions say exactly what is wrong when one fails.
import { hasUnsafeChars, quote } from './printable.js';

/** 0-255 without leading zeros ("010" could be read as octal by other tools). */
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
/** First octet of a unicast address: 1-126, 128-223 (0/8, 127/8 and 224-255 are not unicast targets). */
const FIRST_OCTET = '(?:22[0-3]|2[01][0-9]|1[3-9][0-9]|12[89]|12[0-6]|1[01][0-9]|[1-9][0-9]|[1-9])';
/** 1-65535 without leading zeros. */
const PORT = '(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})';
const UNICAST = `${FIRST_OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;

export const UNICAST_IPV4_PATTERN = new RegExp(`^${UNICAST}$`);
export const ENDPOINT_PATTERN = new RegExp(`^${UNICAST}:${PORT}$`);

/** Why `address` is not a unicast IPv4 address we can route to, or null when it is. */
export function explainAddress(address: string, label = quote(address)): string | null {
  const parts = address.split('.');
  if (parts.length !== 4) return `${label} is not a dotted-quad IPv4 address (like 10.1.0.5)`;
  const octets: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (!/^[0-9]{1,3}$/.test(part)) return `${label}: octet ${i + 1} (${quote(part, 20)}) is not a number from 0 to 255`;
    if (part.length > 1 && part.startsWith('0')) return `${label}: octet ${i + 1} (${quote(part)}) has a leading zero; write ${Number(part)}`;
    const n = Number(part);
    if (n > 255) return `${label}: octet ${i + 1} is ${n}, more than 255`;
    octets.push(n);
  }
  const first = octets[0] ?? 0;
  if (address === '255.255.255.255') return `${label} is the broadcast address, not a unicast host`;
  if (first === 0) return `${label} is in 0.0.0.0/8 ("this network"), not a unicast host`;
  if (first === 127) return `${label} is a loopback address; the data path forwards packets out of the NIC, so use the host's own address`;
  if (first >= 224 && first <= 239) return `${label} is a multicast address, not a unicast host`;
  if (first >= 240) return `${label} is in the reserved range 240.0.0.0/4, not a unicast host`;
  return null;
}

/** Why `port` (text) is not 1-65535, or null. */
function explainPort(text: string, where: string): string | null {
  if (!/^[0-9]+$/.test(text)) return `${where}: port ${quote(text, 20)} is not a number`;
  if (text.length > 1 && text.startsWith('0'))
    return `${where}: port ${quote(text, 20)} has a leading zero${text.length <= 6 ? `; write ${Number(text)}` : ''}`;
  const n = Number(text);
  if (n < 1 || n > 65535) return `${where}: port ${text} is out of range 1-65535`;
  return null;
}

/** Why `endpoint` is not a valid "ip:port" backend, or null when it is. */
export function explainEndpoint(endpoint: string): string | null {
  const colon = endpoint.lastIndexOf(':');
  if (colon < 0) return `${quote(endpoint)} has no port; write it as ip:port, like 10.1.0.5:8080`;
  const address = endpoint.slice(0, colon);
  const shown = address.length <= 20 && !hasUnsafeChars(address) && !address.includes('"') ? address : quote(address, 20);
  const addressProblem = explainAddress(address, `address ${shown}`);
  if (addressProblem !== null) return `${quote(endpoint)}: ${addressProblem}`;
  return explainPort(endpoint.slice(colon + 1), quote(endpoint));
}

/** Splits a valid endpoint (checked with ENDPOINT_PATTERN) into ip and port. */
export function splitEndpoint(endpoint: string): { ip: string; port: number } {
  const colon = endpoint.lastIndexOf(':');
  return { ip: endpoint.slice(0, colon), port: Number(endpoint.slice(colon + 1)) };
}
