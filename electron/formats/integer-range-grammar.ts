/**
 * A GBNF expression for the integers between two bounds, written the way JSON
 * writes them ("0", "-12", never "012", "-0" or "1e2"), so that a grammar holds
 * a schema's `minimum`/`maximum` on an integer as it is generated, the way
 * llama.cpp's own json-schema-to-grammar does.
 *
 * Like node-llama-cpp's own integer rule, at most 16 digits: an unbounded side
 * stops at ±9,999,999,999,999,999, and bounds beyond that are taken as
 * unbounded.
 *
 * The numbers of each length form one range of digit strings of that length;
 * such a range is split at the first digit where its ends differ: the low end's
 * digit followed by the rest up to 9…9, the digits in between followed by any
 * digits, and the high end's digit followed by 0…0 up to the rest. The result
 * has a few alternatives per digit, whatever the width of the range.
 */

export const INTEGER_DIGITS = 16;
export const INTEGER_LIMIT = 10n ** BigInt(INTEGER_DIGITS) - 1n;

const digitClass = (from: number, to: number) => (from === to ? `"${from}"` : `[${from}-${to}]`);
const anyDigits = (count: number) => (count === 0 ? '' : count === 1 ? '[0-9]' : `[0-9]{${count}}`);
const sequence = (...parts: string[]) => parts.filter(Boolean).join(' ');
const alternatives = (parts: string[]) => (parts.length === 1 ? parts[0]! : `( ${parts.join(' | ')} )`);

/** Digit strings of one length from `low` to `high` (equal lengths, low ≤ high), as GBNF. */
function sameLength(low: string, high: string): string {
  if (low.length === 0) return '';
  if (low === high) return `"${low}"`;
  let shared = 0;
  while (low[shared] === high[shared]) shared += 1;
  const prefix = shared ? `"${low.slice(0, shared)}"` : '';
  const first = Number(low[shared]);
  const last = Number(high[shared]);
  const restLow = low.slice(shared + 1);
  const restHigh = high.slice(shared + 1);
  const width = restLow.length;
  const lowIsFloor = /^0*$/.test(restLow);
  const highIsCeiling = /^9*$/.test(restHigh);
  const parts: string[] = [];
  // Whole runs of first digits take any digits after them: the ends join the run when their rest is 0…0 or 9…9.
  const from = lowIsFloor ? first : first + 1;
  const to = highIsCeiling ? last : last - 1;
  if (!lowIsFloor) parts.push(sequence(`"${first}"`, sameLength(restLow, '9'.repeat(width))));
  if (from <= to) parts.push(sequence(digitClass(from, to), anyDigits(width)));
  if (!highIsCeiling) parts.push(sequence(`"${last}"`, sameLength('0'.repeat(width), restHigh)));
  return sequence(prefix, alternatives(parts));
}

/** The whole numbers from `low` to `high` (0 ≤ low ≤ high ≤ INTEGER_LIMIT), without a sign, as alternatives. */
function naturals(low: bigint, high: bigint): string[] {
  const parts: string[] = [];
  const lowDigits = low.toString().length;
  const highDigits = high.toString().length;
  // Lengths whose every number is in range, written once as "[1-9] [0-9]{m,n}".
  let fullFrom = 0;
  let fullTo = 0;
  const flushFull = () => {
    if (!fullFrom) return;
    const repeat = fullFrom === fullTo ? anyDigits(fullFrom - 1) : `[0-9]{${fullFrom - 1},${fullTo - 1}}`;
    parts.push(sequence('[1-9]', repeat));
    fullFrom = 0;
  };
  for (let length = lowDigits; length <= highDigits; length++) {
    const floor = length === 1 ? 0n : 10n ** BigInt(length - 1);
    const ceiling = 10n ** BigInt(length) - 1n;
    const from = low > floor ? low : floor;
    const to = high < ceiling ? high : ceiling;
    if (length > 1 && from === floor && to === ceiling) {
      if (!fullFrom) fullFrom = length;
      fullTo = length;
      continue;
    }
    flushFull();
    parts.push(sameLength(from.toString(), to.toString()));
  }
  flushFull();
  return parts;
}

/**
 * The integers from `min` to `max` inclusive (null: unbounded on that side) as
 * a GBNF expression. Throws when no integer is in the range.
 */
export function integerRangeGbnf(min: bigint | null, max: bigint | null): string {
  const low = min === null || min < -INTEGER_LIMIT ? -INTEGER_LIMIT : min;
  const high = max === null || max > INTEGER_LIMIT ? INTEGER_LIMIT : max;
  if (low > high) throw new RangeError(`No integer is at least ${String(min)} and at most ${String(max)}.`);
  const parts: string[] = [];
  if (low < 0n) {
    // Magnitudes of the negative numbers in range.
    const negatives = naturals(high < 0n ? -high : 1n, -low);
    parts.push(sequence('"-"', alternatives(negatives)));
  }
  if (high >= 0n) parts.push(...naturals(low > 0n ? low : 0n, high));
  return alternatives(parts);
}
