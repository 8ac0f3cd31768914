// Checks that bytes are one JSON value nested at most `maxDepth` levels, in one pass with no recursion
// and no allocation per token: for bytes nobody trusted (a container's output, an event) that are passed
// on as they are rather than parsed and serialised again.

export type JsonScan = { ok: true; depth: number } | { ok: false; reason: "syntax" | "depth"; at: number };

const ARRAY = 1;
const OBJECT = 2;
const enum State {
  Value,
  Key,
  After,
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** Returns the index after a JSON string starting at `i` (a quote), or -1. */
function skipString(b: Uint8Array, i: number): number {
  for (i++; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -1;
    if (c === 0x5c) {
      const e = b[++i];
      if (e === 0x75) {
        if (i + 4 >= b.length || !isHex(b[i + 1]!) || !isHex(b[i + 2]!) || !isHex(b[i + 3]!) || !isHex(b[i + 4]!)) return -1;
        i += 4;
      } else if (e !== 0x22 && e !== 0x5c && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
        return -1;
      }
    }
  }
  return -1;
}

/** Returns the index after a JSON number starting at `i`, or -1. */
function skipNumber(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (i < b.length && isDigit(b[i]!) ) while (i < b.length && isDigit(b[i]!)) i++;
  else return -1;
  if (b[i] === 0x2e) {
    i++;
    if (!(i < b.length && isDigit(b[i]!))) return -1;
    while (i < b.length && isDigit(b[i]!)) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!(i < b.length && isDigit(b[i]!))) return -1;
    while (i < b.length && isDigit(b[i]!)) i++;
  }
  return i;
}

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

function skipLiteral(b: Uint8Array, i: number, word: number[]): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return -1;
  return i + word.length;
}

export function scanJson(b: Uint8Array, maxDepth: number): JsonScan {
  const stack = new Uint8Array(maxDepth + 1);
  let depth = 0;
  let deepest = 0;
  let state = State.Value;
  let i = 0;
  const fail = (reason: "syntax" | "depth" = "syntax"): JsonScan => ({ ok: false, reason, at: i });
  for (;;) {
    while (i < b.length && isWs(b[i]!)) i++;
    if (state === State.After && depth === 0) return i === b.length ? { ok: true, depth: deepest } : fail();
    if (i >= b.length) return fail();
    const c = b[i]!;
    if (state === State.Key) {
      if (c !== 0x22) return fail();
      i = skipString(b, i);
      if (i < 0) return fail();
      while (i < b.length && isWs(b[i]!)) i++;
      if (b[i] !== 0x3a) return fail();
      i++;
      state = State.Value;
      continue;
    }
    if (state === State.After) {
      const top = stack[depth - 1];
      if (c === 0x2c) {
        i++;
        state = top === OBJECT ? State.Key : State.Value;
      } else if ((c === 0x5d && top === ARRAY) || (c === 0x7d && top === OBJECT)) {
        i++;
        depth--;
      } else {
        return fail();
      }
      continue;
    }
    // State.Value
    if (c === 0x5b || c === 0x7b) {
      if (depth >= maxDepth) return fail("depth");
      stack[depth++] = c === 0x5b ? ARRAY : OBJECT;
      if (depth > deepest) deepest = depth;
      i++;
      while (i < b.length && isWs(b[i]!)) i++;
      if ((c === 0x5b && b[i] === 0x5d) || (c === 0x7b && b[i] === 0x7d)) {
        i++;
        depth--;
        state = State.After;
      } else {
        state = c === 0x5b ? State.Value : State.Key;
      }
      continue;
    }
    if (c === 0x22) i = skipString(b, i);
    else if (c === 0x74) i = skipLiteral(b, i, TRUE);
    else if (c === 0x66) i = skipLiteral(b, i, FALSE);
    else if (c === 0x6e) i = skipLiteral(b, i, NULL);
    else i = skipNumber(b, i);
    if (i < 0) {
      i = 0;
      return fail();
    }
    state = State.After;
  }
}
