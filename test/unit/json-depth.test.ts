// The JSON depth scanner: the depth JSON.parse's tree has, for any JSON text, without recursion; strings and
// escapes never fool it, and no input makes it throw or run past the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { jsonDepth } from "../../shared/json-depth.js";

const depthOf = (text: string, stopAbove?: number) => jsonDepth(Buffer.from(text), stopAbove);

/** The depth of a parsed value, the reference the scanner must agree with. */
function treeDepth(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce((max: number, v) => Math.max(max, treeDepth(v)), 0);
}

test("scalars are 0 deep, each array or object one more", () => {
  const cases: Array<[string, number]> = [
    ["1", 0],
    ['"x"', 0],
    ["null", 0],
    ["", 0],
    ["[]", 1],
    ["{}", 1],
    ['{"a": [1, {"b": []}]}', 4],
    ["[[], [[]], []]", 3],
    [" [ [ [ ] ] ] ", 3],
  ];
  for (const [text, depth] of cases) assert.equal(depthOf(text), depth, text);
});

test("brackets inside strings do not count, however the string escapes its quotes", () => {
  const cases: Array<[string, number]> = [
    ['"[[[{{{"', 0],
    ['["]]]]", [1]]', 2],
    ['["\\"[[[", 1]', 1], // an escaped quote does not end the string
    ['["\\\\", [[1]]]', 3], // an escaped backslash does not escape the quote after it
    ['["\\\\\\"[[", 1]', 1], // three backslashes: the quote is escaped
    ['{"k[": "v{", "[": {"]": "}"}}', 2],
    ['["\\u005b\\u005b", 1]', 1],
  ];
  for (const [text, depth] of cases) {
    assert.equal(depthOf(text), depth, text);
    assert.equal(treeDepth(JSON.parse(text)), depth, `reference for ${text}`);
  }
});

test("agrees with JSON.parse on random JSON", () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const strings = ["", "a", "[", "]", "{", "}", '"', "\\", '\\"', "é ✓ 🚀", "[\"{"];
  const value = (budget: number): unknown => {
    const r = random();
    if (budget <= 0 || r < 0.3) return [1, -2.5e3, true, null, strings[Math.floor(random() * strings.length)]][Math.floor(random() * 5)];
    const n = Math.floor(random() * 4);
    if (r < 0.65) return Array.from({ length: n }, () => value(budget - 1));
    return Object.fromEntries(Array.from({ length: n }, (_, i) => [strings[Math.floor(random() * strings.length)]! + i, value(budget - 1)]));
  };
  for (let i = 0; i < 2000; i++) {
    const v = value(12);
    const text = JSON.stringify(v, null, i % 3 === 0 ? 2 : undefined);
    assert.equal(depthOf(text), treeDepth(v), text);
  }
});

test("stops as soon as the depth passes stopAbove, and says by how much: one", () => {
  const deep = "[".repeat(1_000_000) + "]".repeat(1_000_000);
  assert.equal(depthOf(deep, 1000), 1001);
  assert.equal(depthOf(deep), 1_000_000, "without a bound it counts all of it, iteratively");
  const exactly = "[".repeat(1000) + "1" + "]".repeat(1000);
  assert.equal(depthOf(exactly, 1000), 1000, "exactly at the bound is not past it");
  const objects = '{"a":'.repeat(1001) + "1" + "}".repeat(1001);
  assert.equal(depthOf(objects, 1000), 1001);
});

test("depth is the deepest point, not the sum: many shallow siblings stay shallow", () => {
  const siblings = "[" + Array.from({ length: 100_000 }, () => "[[1]]").join(",") + "]";
  assert.equal(depthOf(siblings, 1000), 3);
});

test("any bytes end the scan with a number, never a throw", () => {
  const inputs = ['"unterminated [[[', "]]]]]", "[[[", '"\\', "\\", "\u0000\u00ff[", "}{}{", '["a\\'];
  for (const text of inputs) assert.equal(typeof depthOf(text), "number", text);
  assert.equal(depthOf("]]][["), 2, "a closing bracket never takes the depth below 0");
  assert.equal(depthOf('"unterminated [[['), 0, "an unterminated string runs to the end");
  const noise = Buffer.alloc(1 << 20);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 256;
  assert.equal(typeof jsonDepth(noise, 1000), "number");
});

test("reads a slice of a larger buffer, not the bytes around it", () => {
  const whole = Buffer.from('[[[[["x"]]]]]');
  assert.equal(jsonDepth(whole.subarray(2, whole.length - 2)), 3);
  assert.equal(jsonDepth(new Uint8Array(whole.buffer, whole.byteOffset + 4, 5)), 1);
});
