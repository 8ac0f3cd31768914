// What `weft deploy [PATH]` sends: a single handler file, or a folder holding weft.json or weft.yaml that names
// the handler file and the function's settings. The runtime comes from the handler's extension when not given.
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { UsageError } from "./usage-error.js";
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
}

export async function readDeploySource(path: string, nameOverride?: string): Promise<DeploySource> {
  const full = resolve(path);
  const info = await stat(full).catch(() => {
    throw new UsageError(`PATH: ${path} does not exist`);
  });
  const { manifest, dir } = info.isDirectory() ? await readManifest(full) : await manifestBeside(full);
  const handler = manifest.handler ?? (info.isDirectory() ? undefined : basename(full));
  if (!handler) throw new UsageError(`${path}: the manifest names no handler file ("handler": "main.py")`);
  const handlerPath = join(dir, handler);
  const code = await readFile(handlerPath, "utf8").catch(() => {
    throw new UsageError(`handler: ${handlerPath} cannot be read`);
  });
  const runtime = manifest.runtime ?? RUNTIME_BY_EXTENSION[extname(handlerPath)];
  if (!runtime) throw new UsageError(`runtime: cannot be inferred from "${extname(handlerPath) || handler}"; name it in weft.json (python3, nodejs, typescript, python3.11, ...)`);
  const name = nameOverride ?? manifest.name ?? nameFromFile(handlerPath, info.isDirectory() ? full : undefined);
  const { name: _n, handler: _h, runtime: _r, ...settings } = manifest;
  return { name, spec: { ...settings, runtime, code } };
}

async function readManifest(dir: string): Promise<{ manifest: Manifest; dir: string }> {
  for (const file of MANIFESTS) {
    const text = await readFile(join(dir, file), "utf8").catch(() => undefined);
    if (text !== undefined) return { manifest: parseManifest(text, file), dir };
  }
  throw new UsageError(`${dir}: no ${MANIFESTS.join(" or ")} in this folder`);
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

/** hello_world.py → hello-world; a folder's name when the handler is the generic main/index/handler. */
function nameFromFile(file: string, dir: string | undefined): string {
  const stem = basename(file, extname(file));
  const base = dir && ["main", "index", "handler"].includes(stem) ? basename(dir) : stem;
  return base.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^[^a-z]+/, "").slice(0, 63) || "function";
}
