// The build directory's garbage collection (controller/builds/build-collector.ts): the policy (grace, batch, oldest
// first) as plain logic, and sweeps over a real folder, with the references a store would answer given per sweep.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { BuildCollector, dueForRemoval, type BuildReferences } from "../../controller/builds/build-collector.js";

const GRACE = 60_000;

test("an unreferenced entry is due once unreferenced for the grace period; a referenced one leaves the count", () => {
  const seen = new Map<`${string}/${string}`, number>();
  let refs = new Set(["layers/a"]);
  const present = ["layers/a", "layers/b", "code/x"] as const;
  const at = (t: number) => dueForRemoval([...present], (e) => refs.has(e), seen, t, GRACE, 10);
  assert.deepEqual(at(0), { due: [], waiting: 2, more: false });
  assert.deepEqual(at(GRACE - 1), { due: [], waiting: 2, more: false });
  refs = new Set(["layers/a", "code/x"]); // referenced again: its grace starts over when it is free once more
  assert.deepEqual(at(GRACE), { due: ["layers/b"], waiting: 0, more: false });
  refs = new Set(["layers/a"]);
  assert.deepEqual(at(GRACE + 1), { due: ["layers/b"], waiting: 1, more: false });
  assert.deepEqual(at(2 * GRACE + 1), { due: ["layers/b", "code/x"], waiting: 0, more: false });
});

test("at most a batch is due per sweep, the longest unreferenced first", () => {
  const seen = new Map<`${string}/${string}`, number>([["layers/old", 0]]);
  const r = dueForRemoval(["layers/new", "layers/old", "code/mid"], () => false, seen, GRACE, GRACE / 2, 1);
  assert.deepEqual(r, { due: ["layers/old"], waiting: 2, more: false }, "new and mid were first seen now");
  const later = dueForRemoval(["layers/new", "layers/old", "code/mid"], () => false, seen, 2 * GRACE, GRACE / 2, 2);
  assert.deepEqual(later, { due: ["layers/old", "layers/new"], waiting: 0, more: true });
});

async function buildDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "weft-gc-"));
  for (const e of ["layers/a", "layers/b", "layers/c", "code/x"]) {
    await mkdir(join(dir, e, "sub"), { recursive: true });
    await writeFile(join(dir, e, "sub", "file"), e);
  }
  return dir;
}

function collector(dir: string, answers: BuildReferences[], batch = 10): BuildCollector {
  let i = 0;
  return new BuildCollector({
    dir,
    intervalMs: 0,
    graceMs: GRACE,
    batch,
    stagingMaxAgeMs: 10 * GRACE,
    references: async () => answers[Math.min(i++, answers.length - 1)]!,
    log: pino({ level: "silent" }),
  });
}

const refs = (layers: string[], bundles: string[] = []): BuildReferences => ({ layers: new Set(layers), bundles: new Set(bundles) });

test("sweeps remove unreferenced layers and bundle folders after the grace, a batch at a time; referenced ones stay", async () => {
  const dir = await buildDir();
  try {
    const gc = collector(dir, [refs(["a"])], 2);
    assert.deepEqual((await gc.sweep(0)).removed, [], "nothing before the grace period");
    const first = await gc.sweep(GRACE);
    assert.equal(first.removed.length, 2);
    assert.equal(first.more, true);
    const second = await gc.sweep(GRACE + 1);
    assert.deepEqual([...first.removed, ...second.removed].sort(), ["code/x", "layers/b", "layers/c"]);
    assert.equal(second.more, false);
    assert.deepEqual(await readdir(join(dir, "layers")), ["a"]);
    assert.deepEqual(await readdir(join(dir, "staging")), [], "what was set aside is gone too");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an entry referenced again between the first look and the removal (a new version with the same dependencies) is put back", async () => {
  const dir = await buildDir();
  try {
    const gc = collector(dir, [refs(["a", "c"], ["x"]), refs(["a", "c"], ["x"]), refs(["a", "b", "c"], ["x"])]);
    await gc.sweep(0);
    const r = await gc.sweep(GRACE);
    assert.deepEqual(r.removed, []);
    assert.deepEqual(r.restored, ["layers/b"]);
    assert.equal(existsSync(join(dir, "layers/b/sub/file")), true, "whole, where it was");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("staging folders are removed only when older than any build can run", async () => {
  const dir = await buildDir();
  try {
    const now = Date.now();
    const stale = `${now - 11 * GRACE}-aaaaaa`;
    const fresh = `${now - GRACE}-bbbbbb`;
    for (const s of [stale, fresh]) await mkdir(join(dir, "staging", s, "layer"), { recursive: true });
    const r = await collector(dir, [refs(["a", "b", "c"], ["x"])]).sweep(now);
    assert.deepEqual(r.removed, [`staging/${stale}`]);
    assert.deepEqual(await readdir(join(dir, "staging")), [fresh], "a build may still be writing there");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
