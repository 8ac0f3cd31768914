// The build directory on the host: code/<bundleSha256> (a version's files) and layers/<layerId> (installed
// dependencies), both content-addressed and never changed once there. Everything is made under staging/ and
// renamed into place in one step, so a reader (an agent mounting it) sees a whole build or none, and a build
// that fails or dies midway leaves nothing a later version could use.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, lstat, mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BUILD_LAYOUT, pathProblem } from "../../shared/bundle.js";

export class BuildDir {
  constructor(readonly root: string) {}

  codePath(bundleSha256: string): string {
    return join(this.root, BUILD_LAYOUT.code, bundleSha256);
  }

  layerPath(layerId: string): string {
    return join(this.root, BUILD_LAYOUT.layers, layerId);
  }

  has(path: string): boolean {
    return existsSync(path);
  }

  /** The staging folder itself (a sweep moves entries into it to remove them). */
  async ensureStaging(): Promise<void> {
    await mkdir(join(this.root, BUILD_LAYOUT.staging), { recursive: true, mode: 0o755 });
  }

  /** A fresh folder to build in; commit() moves it into place, discard() removes it. */
  async stage(): Promise<string> {
    const dir = join(this.root, BUILD_LAYOUT.staging, `${Date.now()}-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await chmod(dir, 0o755);
    return dir;
  }

  /** Moves a staged folder to `final`; when another build put it there first, the staged copy goes (same content). */
  async commit(staged: string, final: string): Promise<void> {
    await mkdir(dirname(final), { recursive: true, mode: 0o755 });
    try {
      await rename(staged, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === "ENOTEMPTY" || code === "EEXIST") && this.has(final)) await this.discard(staged);
      else throw err;
    }
  }

  /** The bytes of the files under a folder (a shared layer's size, reported again to each version using it). */
  async sizeOf(dir: string): Promise<number> {
    let total = 0;
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) total += (await lstat(join(entry.parentPath, entry.name))).size;
    }
    return total;
  }

  async discard(staged: string): Promise<void> {
    try {
      await rm(staged, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EACCES" && (err as NodeJS.ErrnoException).code !== "EPERM") throw err;
      // The builder's tar stream decides its folders' modes: a read-only folder (0555) keeps its children from a
      // controller that is not root. Open every folder to its owner, then remove again.
      await openFolders(staged);
      await rm(staged, { recursive: true, force: true });
    }
  }

  /**
   * Writes a version's files (world-readable, owned by the controller: the function's uid reads them through a
   * read-only mount) and moves them into code/<sha>. `emptyFolders` are made too (mount points for a layer).
   */
  async writeCode(bundleSha256: string, files: Map<string, Buffer>, emptyFolders: readonly string[] = []): Promise<string> {
    const final = this.codePath(bundleSha256);
    if (this.has(final)) return final;
    const staged = await this.stage();
    try {
      for (const [path, bytes] of files) {
        // Checked at PUT already; checked again because this is where a bad path would do harm.
        const problem = pathProblem(path);
        if (problem) throw new Error(`bundle path ${JSON.stringify(path)} ${problem}`);
        const target = join(staged, path);
        await mkdir(dirname(target), { recursive: true, mode: 0o755 });
        await writeFile(target, bytes, { mode: 0o644, flag: "wx" });
      }
      for (const folder of emptyFolders) await mkdir(join(staged, folder), { recursive: true, mode: 0o755 });
      await this.commit(staged, final);
      return final;
    } catch (err) {
      await this.discard(staged);
      throw err;
    }
  }
}

/** Gives the owner rwx on `dir` and every folder below it (never following links). */
async function openFolders(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await openFolders(join(dir, entry.name));
  }
}
