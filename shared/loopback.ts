/**
 * Whether a bind address reaches this machine only. An IP literal counts if it
 * is in 127.0.0.0/8 or is ::1 (any spelling, brackets allowed, IPv4-mapped
 * too); of names, only `localhost`, which resolves to loopback by definition
 * (RFC 6761 §6.3). Anything else, `127.lan` or `127.1` included, is a name the
 * resolver may send elsewhere, so it is not loopback and the API key is forced.
 * Pure (no Node), so the host, the UI and test fakes apply the same rule.
 */
export function isLoopbackAddress(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const v4 = ipv4Octets(address);
  if (v4) return v4[0] === 127;
  const v6 = ipv6Groups(address);
  if (!v6) return false;
  if (v6.slice(0, 7).every((g) => g === 0) && v6[7] === 1) return true; // ::1
  // IPv4-mapped (::ffff:127.x.y.z): the IPv4 address decides.
  return v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff && v6[6]! >> 8 === 127;
}

/** "127.0.0.1" → [127, 0, 0, 1]; only the strict dotted-quad form (no "127.1", no leading zeros). */
function ipv4Octets(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number);
}

/** An IPv6 literal as its eight 16-bit groups, or null; an embedded IPv4 tail is allowed, zone ids are not. */
function ipv6Groups(text: string): number[] | null {
  if (!text.includes(':') || text.includes('%')) return null;
  let body = text;
  let tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (body.slice(lastColon + 1).includes('.')) {
    const v4 = ipv4Octets(body.slice(lastColon + 1));
    if (!v4) return null;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    body = `${body.slice(0, lastColon + 1)}0`; // a placeholder group, dropped below
  }
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const parse = (half: string) => (half === '' ? [] : half.split(':'));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (![...head, ...rest].every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  const toNumbers = (groups: string[]) => groups.map((g) => parseInt(g, 16));
  let groups: number[];
  if (tail.length) {
    // Replace the placeholder with the two IPv4 groups.
    if (rest.length) rest.pop();
    else head.pop();
  }
  const known = head.length + rest.length + tail.length;
  if (halves.length === 2) {
    if (known > 7) return null;
    groups = [...toNumbers(head), ...new Array<number>(8 - known).fill(0), ...toNumbers(rest), ...tail];
  } else {
    if (known !== 8) return null;
    groups = [...toNumbers(head), ...tail];
  }
  return groups;
}
