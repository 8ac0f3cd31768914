// How deeply JSON text nests, found in one pass over its bytes with no recursion and no allocation, so that input
// nested too deeply for what parses it next (a runner's json module, JSON.stringify, protobuf) is refused first.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** What each byte value means to the scan: one table load per byte instead of five comparisons. */
const OTHER = 0;
const STRING = 1;
const OPEN = 2;
const CLOSE = 3;
const KIND = new Uint8Array(256);
KIND[QUOTE] = STRING;
KIND[OPEN_ARRAY] = KIND[OPEN_OBJECT] = OPEN;
KIND[CLOSE_ARRAY] = KIND[CLOSE_OBJECT] = CLOSE;

/**
 * The deepest nesting of arrays and objects in JSON text: a scalar is 0, `[]` and `{}` are 1, `{"a": [1]}` is 2.
 * Brackets inside strings do not count. Stops as soon as the depth passes `stopAbove` and returns that depth
 * (`stopAbove + 1`), so a refusal costs no more than the bytes up to the point of refusal.
 *
 * The text need not be valid JSON: any bytes end the scan with some number (a closing bracket never takes the
 * depth below 0, an unterminated string runs to the end). Whether it is JSON is for JSON.parse to say.
 */
export function jsonDepth(bytes: Uint8Array, stopAbove = Number.POSITIVE_INFINITY): number {
  const n = bytes.length;
  let depth = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const kind = KIND[bytes[i]!]!;
    if (kind === OTHER) continue;
    if (kind === STRING) {
      i = closingQuote(bytes, i + 1);
    } else if (kind === OPEN) {
      if (++depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (depth > 0) {
      depth--;
    }
  }
  return max;
}

/**
 * The index of the quote that ends a string whose text starts at `from`, or the length of the input if none does.
 * A quote is escaped when an odd number of backslashes runs up to it. indexOf is a native search, so long strings
 * (the bulk of most large events) cost close to a memchr.
 */
function closingQuote(bytes: Uint8Array, from: number): number {
  let at = bytes.indexOf(QUOTE, from);
  while (at !== -1) {
    let slashes = 0;
    while (at - slashes - 1 >= from && bytes[at - slashes - 1] === BACKSLASH) slashes++;
    if ((slashes & 1) === 0) return at;
    at = bytes.indexOf(QUOTE, at + 1);
  }
  return bytes.length;
}
