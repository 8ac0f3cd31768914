// What `weft deploy [PATH]` sends: a single handler file, or a folder. A folder is packed into a bundle
// (folder-bundle.ts) with its handler named by weft.json / weft.yaml or --handler, either as a file (`main.py`: its
// `handler`) or as Lambda names it (`app.handler`); a folder holding only its handler file (and the manifest) is
// sent as that one file, as before bundles existed. The runtime comes from the handler's extension when not given.
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { UsageError } from "./usage-error.js";
import { filesField, packFolder } from "./folder-bundle.js";
import { RUNTIME_BY_EXTENSION } from "../../shared/runtimes.js";
const MANIFESTS = ["weft.json", "weft.yaml", "weft.yml"];

/** The manifest's fields besides name and handler go to the API as they are: it validates them and names a bad one. */
export interface Manifest {
  name?: string;
  runtime?: string;
  handler?: string;
  [field: string]: unknown;
}

export interface DeploySource {
  name: string;
  spec: Record<string, unknown>;
  /** For the person deploying (stderr): what was left out of a bundle. */
  notes: string[];
}

/** Flags that win over the manifest. */
export interface DeployOverrides {
  name?: string | undefined;
  runtime?: string | undefined;
  handler?: string | undefined;
}

export async function readDeploySource(path: string, o: DeployOverrides = {}): Promise<DeploySource> {
  const full = resolve(path);
  const info = await stat(full).catch(() => {
    throw new UsageError(`PATH: ${path} does not exist`);
  });
  return info.isDirectory() ? readFolder(full, path, o) : readSingleFile(full, o);
}

async function readSingleFile(full: string, o: DeployOverrides): Promise<DeploySource> {
  if (o.handler !== undefined) throw new UsageError("--handler: a file deployed alone exports `handler`; deploy its folder to name another entry");
  const { manifest } = await manifestBeside(full);
  const code = await readHandlerFile(full);
  const runtime = runtimeOf(o.runtime ?? manifest.runtime, full);
  const { name: _n, handler: _h, runtime: _r, ...settings } = manifest;
  return { name: o.name ?? manifest.name ?? nameFromFile(full, undefined), spec: { ...settings, runtime, code }, notes: [] };
}

async function readFolder(dir: string, shown: string, o: DeployOverrides): Promise<DeploySource> {
  const found = await readManifest(dir);
  const manifest = found?.manifest ?? {};
  // A Cargo package's handler is always src/lib.handler (the API's rule for rust).
  const cargo = (o.runtime ?? manifest.runtime ?? "rust") === "rust" && (await stat(join(dir, "Cargo.toml")).then(() => true, () => false));
  const handler = o.handler ?? manifest.handler ?? (cargo ? "src/lib.handler" : undefined);
  if (!handler) throw new UsageError(`${shown}: name the handler, with --handler app.handler or "handler" in ${MANIFESTS.join(" / ")}`);
  const packed = await packFolder(dir, found ? [found.file] : []);
  const entry = entryOf(packed.files, handler, shown);
  const runtime = runtimeOf(o.runtime ?? manifest.runtime ?? (cargo ? "rust" : undefined), entry.file);
  const name = o.name ?? manifest.name ?? nameFromFile(join(dir, entry.file), dir);
  const { name: _n, handler: _h, runtime: _r, ...settings } = manifest;
  const notes = packed.skipped.map((p) => `left out ${p}: not a plain file`);
  // One file exporting `handler` is what the API takes as `code`: no build, and its containers come from stem cells.
  if (packed.files.size === 1 && entry.fn === "handler" && runtime !== "rust") {
    return { name, spec: { ...settings, runtime, code: await readHandlerFile(join(dir, entry.file)) }, notes };
  }
  return { name, spec: { ...settings, runtime, handler: `${entry.module}.${entry.fn}`, files: filesField(packed.files) }, notes };
}

/** Extensions an entry module is looked for with, in order (the API looks among the same, per runtime). */
const ENTRY_EXTENSIONS = [".py", ".ts", ".mts", ".cts", ".tsx", ".js", ".cjs", ".mjs", ".rs"];

/** `main.py` (a file: its `handler`) or `app.handler` / `lib/app.run` (module.function). */
function entryOf(files: Map<string, Buffer>, handler: string, shown: string): { file: string; module: string; fn: string } {
  if (files.has(handler) && extname(handler)) return { file: handler, module: handler.slice(0, -extname(handler).length), fn: "handler" };
  const dot = handler.lastIndexOf(".");
  const module = handler.slice(0, dot);
  const file = dot > 0 ? ENTRY_EXTENSIONS.map((ext) => module + ext).find((f) => files.has(f)) : undefined;
  if (!file) throw new UsageError(`handler: "${handler}" names no file of ${shown} (a file, main.py, or module.function, app.handler for app.py / app.js / app.ts)`);
  return { file, module, fn: handler.slice(dot + 1) };
}

/** The runtime named, else the one the entry's extension means (.ts: typescript). */
function runtimeOf(named: string | undefined, file: string): string {
  if (named) return named;
  const runtime = RUNTIME_BY_EXTENSION[extname(file)];
  if (!runtime) throw new UsageError(`runtime: cannot be inferred from "${basename(file)}"; name it with --runtime or in weft.json (python3, nodejs, typescript, python3.11, ...)`);
  return runtime;
}

async function readHandlerFile(path: string): Promise<string> {
  return readFile(path, "utf8").catch(() => {
    throw new UsageError(`handler: ${path} cannot be read`);
  });
}

async function readManifest(dir: string): Promise<{ manifest: Manifest; file: string } | undefined> {
  for (const file of MANIFESTS) {
    const text = await readFile(join(dir, file), "utf8").catch(() => undefined);
    if (text !== undefined) return { manifest: parseManifest(text, file), file };
  }
  return undefined;
}

/** A file deployed alone may still have a manifest beside it (its settings apply when it names this file). */
async function manifestBeside(file: string): Promise<{ manifest: Manifest; dir: string }> {
  const dir = dirname(file);
  for (const m of MANIFESTS) {
    const text = await readFile(join(dir, m), "utf8").catch(() => undefined);
    if (text === undefined) continue;
    const manifest = parseManifest(text, m);
    if (manifest.handler === basename(file)) return { manifest, dir };
  }
  return { manifest: {}, dir };
}

function parseManifest(text: string, file: string): Manifest {
  let value: unknown;
  try {
    value = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UsageError(`${file}: must be an object`);
  const m = value as Manifest;
  for (const key of ["name", "runtime", "handler"] as const) {
    if (m[key] !== undefined && typeof m[key] !== "string") throw new UsageError(`${file}: ${key} must be a string`);
  }
  return m;
}

/** hello_world.py → hello-world; a folder's name when the handler is the generic main/index/handler/app, or lib (a Cargo package's src/lib.rs). */
function nameFromFile(file: string, dir: string | undefined): string {
  const stem = basename(file, extname(file));
  const base = dir && ["main", "index", "handler", "app", "lib"].includes(stem) ? basename(dir) : stem;
  return base.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^[^a-z]+/, "").slice(0, 63) || "function";
}
