// The JSON scanner the gateway checks events with (and the agent outputs): for any bytes it agrees with JSON.parse on
// whether they are JSON, and on the depth of what they hold, without recursion; strings and escapes never fool it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { scanJson } from "../../shared/json-scan.js";

const scan = (text: string, maxDepth = 1000) => scanJson(Buffer.from(text), maxDepth);

/** The depth of a parsed value, the reference the scanner must agree with. */
function treeDepth(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce((max: number, v) => Math.max(max, treeDepth(v)), 0);
}

function parses(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString("utf8"));
    return true;
  } catch {
    return false;
  }
}

let seed = 42;
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
const STRINGS = ["", "a", "[", "]", "{", "}", '"', "\\", '\\"', "é ✓ 🚀", '["{', "\u2028", "\u0000"];

function randomValue(budget: number): unknown {
  const r = random();
  if (budget <= 0 || r < 0.3) return pick([1, -2.5e3, 0, 1e-7, true, false, null, pick(STRINGS)]);
  const n = Math.floor(random() * 4);
  if (r < 0.65) return Array.from({ length: n }, () => randomValue(budget - 1));
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [pick(STRINGS) + i, randomValue(budget - 1)]));
}

test("scalars are 0 deep, each array or object one more; brackets inside strings do not count", () => {
  const cases: Array<[string, number]> = [
    ["1", 0], ['"x"', 0], ["null", 0], ["[]", 1], ["{}", 1], ['{"a": [1, {"b": []}]}', 4], [" [ [ [ ] ] ] ", 3],
    ['["]]]]", [1]]', 2], ['["\\"[[[", 1]', 1], ['["\\\\", [[1]]]', 3], ['["\\\\\\"[[", 1]', 1], ['{"k[": "v{", "[": {"]": "}"}}', 2],
  ];
  for (const [text, depth] of cases) {
    assert.deepEqual(scan(text), { ok: true, depth }, text);
    assert.equal(treeDepth(JSON.parse(text)), depth, `reference for ${text}`);
  }
});

test("agrees with JSON.parse on the depth of random JSON", () => {
  for (let i = 0; i < 2000; i++) {
    const v = randomValue(12);
    const text = JSON.stringify(v, null, i % 3 === 0 ? 2 : undefined);
    assert.deepEqual(scan(text), { ok: true, depth: treeDepth(v) }, text);
  }
});

test("agrees with JSON.parse on whether mutated bytes are JSON", () => {
  const noise = [0x20, 0x22, 0x2c, 0x2d, 0x2e, 0x30, 0x31, 0x3a, 0x45, 0x5b, 0x5c, 0x5d, 0x65, 0x6e, 0x74, 0x75, 0x7b, 0x7d, 0x00, 0x0a, 0x7f, 0xc3, 0xff];
  let disagreements = 0;
  for (let i = 0; i < 5000; i++) {
    const bytes = Buffer.from(JSON.stringify(randomValue(5)));
    for (let m = 0; m < 1 + Math.floor(random() * 3); m++) {
      const at = Math.floor(random() * bytes.length);
      bytes[at] = pick(noise);
    }
    if (scanJson(bytes, 1000).ok !== parses(bytes)) {
      disagreements++;
      assert.fail(`${bytes.toString("latin1")}: scanJson ${scanJson(bytes, 1000).ok}, JSON.parse ${parses(bytes)}`);
    }
  }
  assert.equal(disagreements, 0);
  for (const text of ["", " ", "01", "1.", "-", ".5", "1e", "[1,]", '{"a"}', '{"a":1,}', "tru", "nul", '"\\x"', '"\\u12"', "[1] [2]", "\ufeff{}", "NaN", "Infinity"]) {
    assert.equal(scan(text).ok, false, JSON.stringify(text));
    assert.equal(parses(Buffer.from(text)), false, `reference: ${JSON.stringify(text)}`);
  }
});

test("the depth limit is exact, and a million levels stop at the first past it, without recursion", () => {
  const nested = (n: number) => "[".repeat(n) + "1" + "]".repeat(n);
  assert.deepEqual(scan(nested(1000)), { ok: true, depth: 1000 });
  assert.deepEqual(scan(nested(1001)), { ok: false, reason: "depth", at: 1000 });
  assert.deepEqual(scan('{"a":'.repeat(1001) + "1" + "}".repeat(1001)), { ok: false, reason: "depth", at: 5000 });
  const million = scan("[".repeat(1_000_000) + "]".repeat(1_000_000));
  assert.equal(million.ok, false);
  assert.equal(!million.ok && million.reason, "depth");
  const siblings = "[" + Array.from({ length: 100_000 }, () => "[[1]]").join(",") + "]";
  assert.deepEqual(scan(siblings), { ok: true, depth: 3 }, "the deepest point, not the sum");
});

test("reads a slice of a larger buffer, not the bytes around it", () => {
  const whole = Buffer.from('[[[[["x"]]]]]');
  assert.deepEqual(scanJson(whole.subarray(2, whole.length - 2), 1000), { ok: true, depth: 3 });
});
