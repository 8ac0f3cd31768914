// BuildDir.discard as a controller that is not root: a staged layer whose tar stream made a folder read-only
// (0555) still goes. Run in a child process as uid 65534, since root ignores folder modes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const ROOT = join(import.meta.dirname, "..", "..");
const script = `
  import { mkdir, writeFile, chmod } from "node:fs/promises";
  import { BuildDir } from "${join(ROOT, "controller/builds/build-dir.ts")}";
  const dir = new BuildDir(process.argv[1]);
  const staged = await dir.stage();
  await mkdir(staged + "/layer/pkg/sub", { recursive: true });
  await writeFile(staged + "/layer/pkg/sub/x.py", "x = 1");
  await chmod(staged + "/layer/pkg/sub", 0o555);
  await chmod(staged + "/layer/pkg", 0o555);
  await dir.discard(staged);
  process.stdout.write(staged);
`;

test("discard removes a staged folder whose tar stream made folders read-only, as a controller that is not root", () => {
  const root = mkdtempSync(join(tmpdir(), "weft-build-dir-"));
  chmodSync(root, 0o777);
  try {
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, root], { cwd: ROOT, uid: 65534, gid: 65534, encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.stdout.startsWith(root), `staged under the root: ${run.stdout}`);
    assert.equal(existsSync(run.stdout), false, "the staged folder is gone");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
