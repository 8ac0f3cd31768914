// Archive bodies (shared/archive.ts): zip and tar.gz made by the real tools, links refused, bounds checked.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { WeftError } from "../../shared/errors.js";
import { LIMITS } from "../../shared/limits.js";
import { unpackArchive } from "../../shared/archive.js";

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "weft-archive-"));
  await mkdir(join(dir, "src/lib"), { recursive: true });
  await writeFile(join(dir, "src/app.py"), "def handler(e, c):\n    return 1\n");
  await writeFile(join(dir, "src/lib/util.py"), "X = 1\n");
  await writeFile(join(dir, "src/blob.bin"), Buffer.from([0, 1, 2, 255]));
  await mkdir(join(dir, "linked"), { recursive: true });
  await writeFile(join(dir, "linked/app.py"), "x\n");
  await symlink("/etc/passwd", join(dir, "linked/passwd"));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const make = (args: string[], cwd: string) => execFileSync(args[0]!, args.slice(1), { cwd, stdio: ["ignore", "ignore", "pipe"] });
const refusal = (fn: () => unknown): WeftError => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WeftError, String(err));
    return err;
  }
  assert.fail("expected a refusal");
};

test("a tar.gz unpacks to its files, folders implied, ./ dropped", async () => {
  make(["tar", "-czf", join(dir, "b.tgz"), "."], join(dir, "src"));
  const files = unpackArchive("tar.gz", await readFile(join(dir, "b.tgz")));
  assert.deepEqual([...files.keys()].sort(), ["app.py", "blob.bin", "lib/util.py"]);
  assert.deepEqual([...files.get("blob.bin")!], [0, 1, 2, 255]);
});

test("a zip unpacks to its files (stored and deflated)", async () => {
  make(["zip", "-qr", join(dir, "b.zip"), "."], join(dir, "src"));
  make(["zip", "-qr0", join(dir, "stored.zip"), "."], join(dir, "src"));
  for (const name of ["b.zip", "stored.zip"]) {
    const files = unpackArchive("zip", await readFile(join(dir, name)));
    assert.deepEqual([...files.keys()].sort(), ["app.py", "blob.bin", "lib/util.py"], name);
    assert.equal(files.get("lib/util.py")!.toString(), "X = 1\n");
  }
});

test("links are refused, in tar and in zip, naming the entry", async () => {
  make(["tar", "-czf", join(dir, "l.tgz"), "."], join(dir, "linked"));
  const t = refusal(() => unpackArchive("tar.gz", readFileSync(join(dir, "l.tgz"))));
  assert.equal(t.field, "body.passwd");
  make(["zip", "-qry", join(dir, "l.zip"), "."], join(dir, "linked"));
  const z = refusal(() => unpackArchive("zip", readFileSync(join(dir, "l.zip"))));
  assert.equal(z.field, "body.passwd");
});

test("a path going out of the bundle is refused", () => {
  const header = Buffer.alloc(512);
  header.write("../evil.py", 0);
  header.write("0000001\0", 124);
  header.write("0", 156);
  const tar = Buffer.concat([header, Buffer.from("x"), Buffer.alloc(511), Buffer.alloc(1024)]);
  const err = refusal(() => unpackArchive("tar.gz", gzipSync(tar)));
  assert.equal(err.code, "INVALID_ARGUMENT");
  assert.equal(err.field, "body.../evil.py");
});

test("a gzip bomb stops at the unpacked limit with 413", () => {
  const bomb = gzipSync(Buffer.alloc(LIMITS.bundleBytes * 3));
  assert.ok(bomb.length < LIMITS.archiveBytes);
  assert.equal(refusal(() => unpackArchive("tar.gz", bomb)).code, "PAYLOAD_TOO_LARGE");
});

test("garbage is a 400 naming the body", () => {
  assert.equal(refusal(() => unpackArchive("zip", Buffer.from("not a zip"))).field, "body");
  assert.equal(refusal(() => unpackArchive("tar.gz", Buffer.from("not gzip"))).field, "body");
});

