// A built layer's tar stream is hostile (an install script can write its own tar onto the builder's stdout):
// the unpacker writes only files, folders and links that stay inside the layer, and refuses the rest by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readlink, readdir, rm, stat, lstat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pack } from "tar-stream";
import { LayerRefused, unpackLayer } from "../../controller/builds/layer-unpack.js";

type Member = Parameters<ReturnType<typeof pack>["entry"]>[0] & { body?: string };

async function unpack(members: Member[]): Promise<{ dir: string; outcome: number | Error }> {
  const root = await mkdtemp(join(tmpdir(), "weft-layer-"));
  const dir = join(root, "layer");
  await (await import("node:fs/promises")).mkdir(dir);
  const p = pack();
  const { input, done } = unpackLayer(dir);
  p.pipe(input as unknown as NodeJS.WritableStream);
  for (const m of members) {
    const { body, ...header } = m;
    if (body !== undefined) p.entry(header, body);
    else p.entry(header);
  }
  p.finalize();
  const outcome = await done.catch((err: Error) => err);
  return { dir, outcome };
}

async function cleanup(dir: string): Promise<void> {
  await rm(join(dir, ".."), { recursive: true, force: true });
}

test("a layer of files, folders, relative links and a hard link is written with fixed modes and no owners", async () => {
  const { dir, outcome } = await unpack([
    { name: "./", type: "directory" },
    { name: "./pkg/", type: "directory", mode: 0o777 },
    { name: "./pkg/index.js", body: "module.exports = 1", mode: 0o4777, uid: 0, gid: 0 },
    { name: "./pkg/cli.js", body: "#!/usr/bin/env node", mode: 0o700, uid: 1234 },
    { name: "./.bin/cli", type: "symlink", linkname: "../pkg/cli.js" },
    { name: "./pkg/copy.js", type: "link", linkname: "./pkg/index.js" },
  ]);
  try {
    assert.equal(outcome, 6);
    assert.equal(await readFile(join(dir, "pkg/index.js"), "utf8"), "module.exports = 1");
    assert.equal((await stat(join(dir, "pkg/index.js"))).mode & 0o7777, 0o755, "no setuid, no world write: 0755 as it had an execute bit");
    assert.equal((await stat(join(dir, "pkg/cli.js"))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(dir, "pkg"))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(dir, "pkg/cli.js"))).uid, process.getuid!(), "owned by the unpacker, not uid 1234");
    assert.equal(await readlink(join(dir, ".bin/cli")), "../pkg/cli.js");
    assert.equal(await readFile(join(dir, "pkg/copy.js"), "utf8"), "module.exports = 1");
  } finally {
    await cleanup(dir);
  }
});

const refusals: Array<[string, Member[], RegExp]> = [
  ["a block device", [{ name: "sda", type: "block-device", devmajor: 8, devminor: 0 }], /sda, a block-device/],
  ["a character device", [{ name: "mem", type: "character-device", devmajor: 1, devminor: 1 }], /mem, a character-device/],
  ["a FIFO (it would block whoever opens it on the host)", [{ name: "pipe", type: "fifo" }], /pipe, a fifo/],
  ["an absolute name", [{ name: "/etc/cron.d/x", body: "* * * * * root sh" }], /absolute path/],
  ["a name that climbs out", [{ name: "a/../../x", body: "x" }], /climbs out/],
  ["a link to an absolute path", [{ name: "etc", type: "symlink", linkname: "/etc" }], /points outside/],
  ["a link that climbs out", [{ name: "a/up", type: "symlink", linkname: "../../x" }], /points outside/],
  ["a link through another link (b -> ., c -> b/..)", [{ name: "b", type: "symlink", linkname: "." }, { name: "c", type: "symlink", linkname: "b/.." }], /goes through another link \(b\)/],
  ["a link under a linked folder (d -> ., d/e -> ../x)", [{ name: "d", type: "symlink", linkname: "." }, { name: "d/e", type: "symlink", linkname: "../x" }], /goes through another link \(d\)/],
  ["a hard link to a host file", [{ name: "shadow", type: "link", linkname: "/etc/shadow" }], /absolute path/],
  ["a hard link to a name that is no file of the layer", [{ name: "x", type: "link", linkname: "nothing" }], /not a file of the layer/],
  ["a link that would replace a file written before (write-through)", [{ name: "lib/a.py", body: "x" }, { name: "lib", type: "symlink", linkname: "other" }], /would replace a file or folder/],
  ["a member written twice", [{ name: "a.py", body: "x" }, { name: "a.py", body: "y" }], /EEXIST/],
];

for (const [what, members, message] of refusals) {
  test(`refused: ${what}`, async () => {
    const { dir, outcome } = await unpack(members);
    try {
      assert.ok(outcome instanceof Error, `unpacked ${String(outcome)} members`);
      assert.match(outcome.message, message);
      if (!/EEXIST/.test(message.source)) assert.ok(outcome instanceof LayerRefused, outcome.message);
      for (const name of await readdir(dir, { recursive: true })) {
        const st = await lstat(join(dir, name));
        assert.ok(st.isFile() || st.isDirectory() || st.isSymbolicLink(), `${name} is a file, folder or link`);
      }
    } finally {
      await cleanup(dir);
    }
  });
}

test("a truncated stream fails, it is not taken for a whole layer", async () => {
  const root = await mkdtemp(join(tmpdir(), "weft-layer-"));
  const dir = join(root, "layer");
  await (await import("node:fs/promises")).mkdir(dir);
  const p = pack();
  const chunks: Buffer[] = [];
  p.on("data", (c: unknown) => void chunks.push(c as Buffer));
  p.entry({ name: "big.bin" }, Buffer.alloc(10_000, 1));
  p.finalize();
  await new Promise<void>((r) => p.on("end", () => r()));
  const whole = Buffer.concat(chunks);
  const { input, done } = unpackLayer(dir);
  input.write(whole.subarray(0, 4000));
  input.end(undefined);
  await assert.rejects(done);
  await rm(root, { recursive: true, force: true });
});
