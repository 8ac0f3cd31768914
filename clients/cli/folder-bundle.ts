// `weft deploy FOLDER` packs the folder into a bundle: every plain file under it, as the API's `files` map (UTF-8
// text as it is, other bytes as {"base64": …}), leaving out what is installed or generated (node_modules, .git,
// target, __pycache__, .venv: the build installs dependencies itself) and the manifest. The API's limits are
// checked here first, so a folder that is too big is refused before anything is sent, with what makes it big.
import { lstat, readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { LIMITS } from "../../shared/limits.js";
import { UsageError } from "./usage-error.js";

/** Folders never packed, wherever they are in the tree. */
export const SKIPPED_FOLDERS: readonly string[] = ["node_modules", ".git", "target", "__pycache__", ".venv"];

export type BundleFile = string | { base64: string };

export interface PackedFolder {
  files: Map<string, Buffer>;
  /** Links and special files left out (a bundle is plain files; a link could point out of it). */
  skipped: string[];
}

/** Reads the folder's files; `leaveOut` are paths (relative, with /) not to pack, such as the manifest. */
export async function packFolder(root: string, leaveOut: readonly string[] = []): Promise<PackedFolder> {
  const files = new Map<string, Buffer>();
  const skipped: string[] = [];
  let bytes = 0;
  for (const path of await listFiles(root, skipped)) {
    if (leaveOut.includes(path)) continue;
    if (files.size >= LIMITS.bundleFiles) throw tooMany(root);
    const data = await readFile(join(root, ...path.split("/")));
    bytes += data.length;
    files.set(path, data);
  }
  if (bytes > LIMITS.bundleBytes) throw tooBig(root, files, bytes);
  return { files, skipped };
}

async function listFiles(root: string, skipped: string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(dir, entry.name);
      const rel = relative(root, full).split(sep).join("/");
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.includes(entry.name)) await walk(full);
      } else if (entry.isFile()) {
        out.push(rel);
      } else {
        skipped.push(rel);
      }
      // A bundle of more files than the API takes is refused as soon as it is one too many, not after reading them all.
      if (out.length > LIMITS.bundleFiles) throw tooMany(root);
    }
  };
  const info = await lstat(root);
  if (!info.isDirectory()) throw new UsageError(`${root} is not a folder`);
  await walk(root);
  return out;
}

const tooMany = (root: string) =>
  new UsageError(`${root}: more than ${LIMITS.bundleFiles} files to pack (the API's limit); ${SKIPPED_FOLDERS.join(", ")} are left out already`);

function tooBig(root: string, files: Map<string, Buffer>, bytes: number): UsageError {
  const biggest = [...files].sort((a, b) => b[1].length - a[1].length).slice(0, 3).map(([p, d]) => `${p} ${mib(d.length)}`);
  return new UsageError(`${root}: ${mib(bytes)} to pack, over the API's ${mib(LIMITS.bundleBytes)}; the biggest files: ${biggest.join(", ")}`);
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** The API's `files` map: UTF-8 text as a string (what `weft get` shows), anything else as base64. */
export function filesField(files: Map<string, Buffer>): Record<string, BundleFile> {
  const out: Record<string, BundleFile> = {};
  for (const [path, data] of files) {
    const text = data.toString("utf8");
    out[path] = !text.includes("\u0000") && Buffer.from(text, "utf8").equals(data) ? text : { base64: data.toString("base64") };
  }
  return out;
}
