// The alias schema and how an alias picks the version of one call.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AliasSpec, pickVersion, versionsOf } from "../../shared/schemas/alias.js";

test("pickVersion gives each weighted version its share of draws, and the alias's version the rest", () => {
  const alias = { version: 3, weights: { "4": 0.1, "5": 0.25 } };
  assert.equal(pickVersion(alias, 0), 4);
  assert.equal(pickVersion(alias, 0.0999), 4);
  assert.equal(pickVersion(alias, 0.1), 5);
  assert.equal(pickVersion(alias, 0.3499), 5);
  assert.equal(pickVersion(alias, 0.35), 3);
  assert.equal(pickVersion(alias, 0.9999), 3);
  assert.equal(pickVersion({ version: 7, weights: {} }, 0), 7);
  assert.deepEqual(versionsOf(alias), [3, 4, 5]);
});

test("AliasSpec refuses weights that are out of range, add up to 1, name the alias's own version or too many versions", () => {
  assert.ok(AliasSpec.safeParse({ version: 1 }).success);
  assert.ok(AliasSpec.safeParse({ version: 1, weights: { "2": 0.5, "3": 0.49 } }).success);
  for (const bad of [
    { version: 0 },
    { version: 1, weights: { "2": 0 } },
    { version: 1, weights: { "2": 1 } },
    { version: 1, weights: { "2": 0.5, "3": 0.5 } },
    { version: 1, weights: { "1": 0.1 } },
    { version: 1, weights: { x: 0.1 } },
    { version: 1, weights: { "2": 0.1, "3": 0.1, "4": 0.1, "5": 0.1, "6": 0.1 } },
    { version: 1, other: 1 },
  ]) {
    assert.equal(AliasSpec.safeParse(bad).success, false, JSON.stringify(bad));
  }
});
