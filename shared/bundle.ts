// A function's bundle: the files of a version, its entry module, and its dependency files. Pure logic, shared by
// the controller (which checks a PUT and builds the version) and the agent (which knows where a version's files
// and layer live). Every path is checked here, once, before any byte reaches a disk.
import { createHash } from "node:crypto";
import { WeftError, invalid } from "./errors.js";
import { LIMITS } from "./limits.js";
import { RUNTIME_INFO } from "./runtimes.js";
import { DEFAULT_HANDLER, type BundleFile, type FunctionDefinition, type FunctionSpec } from "./schemas/function.js";

export type Language = "python" | "node" | "rust";

/** The language family of a runtime (python3, python3.13 → python; nodejs, nodejs20, typescript → node; rust). */
export const languageOf = (runtime: string): Language => (runtime.startsWith("python") ? "python" : runtime === "rust" ? "rust" : "node");

/** The files that name a bundle's dependencies, per language; their bytes alone address the layer. */
export const DEPENDENCY_FILES: Record<Language, readonly string[]> = {
  python: ["requirements.txt"],
  node: ["package.json", "package-lock.json", "npm-shrinkwrap.json"],
  rust: ["Cargo.toml", "Cargo.lock"],
};

const ENTRY_EXTENSIONS: Record<Language | "typescript", readonly string[]> = {
  python: [".py"],
  node: [".js", ".cjs", ".mjs"],
  rust: [".rs"],
  typescript: [".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs"],
};

const isTypeScript = (runtime: string): boolean => runtime === "typescript";

/** A rust function is a Cargo library package: these files, always, and `handler` in src/lib.rs. */
export const RUST_ENTRY = "src/lib.rs";
export const RUST_HANDLER = "src/lib.handler";

/**
 * What Weft adds to a TypeScript bundle's files (at its root, so `__dirname` in the entry is the bundle's root, as
 * in the sources): the bundle esbuild made (shared/typescript.ts), and a loader that turns Node's source maps on
 * before requiring it (Node reads a module's map only if maps are on when it compiles it). The worker loads the
 * loader as the module `.weft-handler`. A bundle may not carry files of these names.
 */
export const TS_BUNDLE_LOADER = ".weft-handler.cjs";
export const TS_BUNDLE_OUTPUT = ".weft-bundle.cjs";
const TS_GENERATED_FILES: readonly string[] = [TS_BUNDLE_LOADER, TS_BUNDLE_OUTPUT];

/** A spec whose bundle is checked: `code` is the entry module's source, `files` every file (absent for one file). */
export type NormalizedSpec = FunctionSpec & { code: string };

/** Where a path goes wrong, or undefined when it is a plain relative path inside the bundle. */
export function pathProblem(path: string): string | undefined {
  if (path.length === 0) return "is empty";
  if (Buffer.byteLength(path) > LIMITS.bundlePathBytes) return `is over ${LIMITS.bundlePathBytes} bytes`;
  if (path.startsWith("/")) return "is absolute";
  if (path.includes("\\")) return "contains a backslash (use /)";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return "contains a control character";
  for (const segment of path.split("/")) {
    if (segment === "") return "has an empty segment";
    if (segment === "." || segment === "..") return `has a "${segment}" segment`;
  }
  return undefined;
}

/** The bytes of one file as sent. */
export function fileBytes(file: BundleFile): Buffer {
  return typeof file === "string" ? Buffer.from(file, "utf8") : Buffer.from(file.base64, "base64");
}

/** The entry module's path for a handler (`lib/app.handler` → lib/app.py), picked among the files for Node and TypeScript. */
export function entryPath(runtime: string, handler: string, present: (path: string) => boolean): string {
  if (languageOf(runtime) === "rust") return RUST_ENTRY;
  const module = handler.slice(0, handler.lastIndexOf("."));
  const candidates = ENTRY_EXTENSIONS[isTypeScript(runtime) ? "typescript" : languageOf(runtime)].map((ext) => module + ext);
  return candidates.find(present) ?? candidates[0]!;
}

export const handlerFunction = (handler: string): string => handler.slice(handler.lastIndexOf(".") + 1);

/**
 * Checks a PUT's code, files and handler and puts them in the stored form: `files` holds every file of the bundle
 * and `code` the entry module's source again (what single-file readers show). Throws INVALID_ARGUMENT or
 * PAYLOAD_TOO_LARGE naming the field.
 */
export function normalizeBundle(spec: FunctionSpec): NormalizedSpec {
  if (spec.files === undefined) {
    if (languageOf(spec.runtime) === "rust") throw invalid("files", `a rust function is a Cargo package: files with Cargo.toml, Cargo.lock and ${RUST_ENTRY}`);
    if (spec.code === undefined) throw invalid("code", "is required (or files, a bundle)");
    if (spec.handler !== undefined && spec.handler !== DEFAULT_HANDLER) {
      throw invalid("handler", `names a module of a bundle; a function sent as code alone is ${DEFAULT_HANDLER}`);
    }
    return { ...spec, code: spec.code };
  }
  const language = languageOf(spec.runtime);
  if (language === "rust" && spec.handler !== undefined && spec.handler !== RUST_HANDLER) {
    throw invalid("handler", `a rust function's handler is always \`pub fn handler\` in ${RUST_ENTRY} (${RUST_HANDLER})`);
  }
  const handler = language === "rust" ? RUST_HANDLER : spec.handler ?? DEFAULT_HANDLER;
  const files = new Map<string, Buffer>();
  for (const [path, file] of Object.entries(spec.files)) {
    const problem = pathProblem(path);
    if (problem) throw invalid(`files.${path}`, `the path ${problem}`);
    if (isTypeScript(spec.runtime) && TS_GENERATED_FILES.includes(path)) throw invalid(`files.${path}`, "is a name Weft gives the compiled bundle; rename the file");
    files.set(path, fileBytes(file));
  }
  const entry = entryPath(spec.runtime, handler, (p) => files.has(p));
  if (spec.code !== undefined) {
    if (files.has(entry)) throw invalid("code", `and files both give ${entry}; send it once`);
    files.set(entry, Buffer.from(spec.code, "utf8"));
  }
  checkSizes(files);
  checkNoFileUnderFile(files);
  const source = files.get(entry);
  if (!source) throw invalid("handler", `${handler} names ${entry}, which is not among the files`);
  const code = source.toString("utf8");
  if (!Buffer.from(code, "utf8").equals(source)) throw invalid(`files.${entry}`, "the entry module must be UTF-8");
  checkDependencyFiles(language, files);
  const stored: Record<string, BundleFile> = { ...spec.files };
  if (spec.code !== undefined) stored[entry] = spec.code;
  return { ...spec, code, files: stored, handler };
}

function checkSizes(files: Map<string, Buffer>): void {
  if (files.size > LIMITS.bundleFiles) throw new WeftError("PAYLOAD_TOO_LARGE", `files: at most ${LIMITS.bundleFiles} files, got ${files.size}`, "files");
  let total = 0;
  for (const bytes of files.values()) total += bytes.length;
  if (total > LIMITS.bundleBytes) throw new WeftError("PAYLOAD_TOO_LARGE", `files: at most ${LIMITS.bundleBytes} bytes unpacked, got ${total}`, "files");
}

/** `a` and `a/b` cannot both be files: one would have to be a folder. */
function checkNoFileUnderFile(files: Map<string, Buffer>): void {
  for (const path of files.keys()) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const folder = parts.slice(0, i).join("/");
      if (files.has(folder)) throw invalid(`files.${path}`, `${folder} is a file, so it cannot be a folder too`);
    }
  }
}

function checkDependencyFiles(language: Language, files: Map<string, Buffer>): void {
  if (language === "rust") return checkCargoPackage(files);
  if (language !== "node" || !files.has("package.json")) return;
  if (!files.has("package-lock.json") && !files.has("npm-shrinkwrap.json")) {
    throw invalid("files.package-lock.json", "package.json needs its lockfile (package-lock.json or npm-shrinkwrap.json), so the build is repeatable");
  }
  try {
    JSON.parse(files.get("package.json")!.toString("utf8"));
  } catch {
    throw invalid("files.package.json", "is not JSON");
  }
}

/** A Cargo library package Weft can wrap: a manifest naming the package, a lockfile (the build is repeatable). */
function checkCargoPackage(files: Map<string, Buffer>): void {
  for (const name of DEPENDENCY_FILES.rust) {
    if (!files.has(name)) throw invalid(`files.${name}`, `is required: a rust function is a Cargo library package (Cargo.toml, Cargo.lock, ${RUST_ENTRY})`);
  }
  if (!cargoPackageName(files.get("Cargo.toml")!.toString("utf8"))) {
    throw invalid("files.Cargo.toml", 'has no [package] name = "..." (a rust function is a Cargo library package)');
  }
}

/** The package name in a Cargo manifest's [package] table (`name = "x"` or `name = 'x'`), or undefined. */
export function cargoPackageName(manifest: string): string | undefined {
  let inPackage = false;
  for (const raw of manifest.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("[")) {
      inPackage = /^\[\s*package\s*\]\s*(#.*)?$/.test(line);
      continue;
    }
    const m = inPackage ? /^name\s*=\s*(?:"([A-Za-z0-9_-]{1,64})"|'([A-Za-z0-9_-]{1,64})')\s*(#.*)?$/.exec(line) : null;
    if (m) return m[1] ?? m[2];
  }
  return undefined;
}

/** Every file of a stored bundle. */
export function versionFiles(def: Pick<FunctionDefinition, "files">): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const [path, file] of Object.entries(def.files ?? {})) files.set(path, fileBytes(file));
  return files;
}

/** The content address of a set of files: paths and bytes, in path order, length-prefixed so no two sets collide. */
export function filesSha256(files: Map<string, Buffer>, salt = ""): string {
  const hash = createHash("sha256").update(salt);
  for (const path of [...files.keys()].sort()) {
    const bytes = files.get(path)!;
    hash.update(`${Buffer.byteLength(path)}:${path}:${bytes.length}:`).update(bytes);
  }
  return hash.digest("hex");
}

/** The dependency files among a version's files (empty when it has none). */
export function dependencyFilesOf(runtime: string, files: Map<string, Buffer>): Map<string, Buffer> {
  // A rust function's whole package is compiled into its layer (the binary): every file addresses it.
  if (languageOf(runtime) === "rust") return new Map(files);
  const deps = new Map<string, Buffer>();
  for (const name of DEPENDENCY_FILES[languageOf(runtime)]) {
    const bytes = files.get(name);
    if (bytes) deps.set(name, bytes);
  }
  // package-lock.json alone names nothing to install.
  if (languageOf(runtime) === "node" && !deps.has("package.json")) deps.clear();
  return deps;
}

/**
 * The runtime whose image installs and runs a layer: TypeScript runs on nodejs20's (shared/runtimes.ts), so a
 * TypeScript bundle and a nodejs20 one with the same package.json and lockfile share their layer.
 */
export const layerRuntimeOf = (runtime: string): string => (isTypeScript(runtime) ? RUNTIME_INFO.typescript.image : runtime);

/** The layer a dependency set installs into: same runtime and same files, same layer. */
export const layerIdOf = (runtime: string, deps: Map<string, Buffer>): string => {
  const r = layerRuntimeOf(runtime);
  return `${r}-${filesSha256(deps, `weft-layer-v1:${r}:`).slice(0, 32)}`;
};

/** Folder names under the build directory, shared by the controller (writes) and the agent (mounts). */
export const BUILD_LAYOUT = {
  code: "code",
  layers: "layers",
  /** Where a build is made before its atomic rename into code/ or layers/. */
  staging: "staging",
} as const;

/** Where the worker finds a bundle inside a container (Lambda's /var/task) and its dependency layer. */
export const TASK_ROOT = "/var/task";
export const LAYER_ROOT = "/opt/weft/layer";

/** Whether a version can run: a single file always, a bundle once its build is ready. */
export const isBuilt = (def: Pick<FunctionDefinition, "build">): boolean => def.build === undefined || def.build.status === "ready";

export interface VersionMount {
  source: string;
  target: string;
}

/**
 * The read-only mounts a container of a built bundle gets: its files at TASK_ROOT and its layer (Python: at
 * LAYER_ROOT, on sys.path; Node: at TASK_ROOT/node_modules, where require and import both look). Nothing else of
 * the build directory is visible to it.
 */
export function versionMounts(def: Pick<FunctionDefinition, "runtime" | "build">, buildDir: string): VersionMount[] {
  if (!def.build) return [];
  const mounts = [{ source: `${buildDir}/${BUILD_LAYOUT.code}/${def.build.bundleSha256}`, target: TASK_ROOT }];
  if (def.build.layer) {
    const target = languageOf(def.runtime) === "node" ? `${TASK_ROOT}/node_modules` : LAYER_ROOT;
    mounts.push({ source: `${buildDir}/${BUILD_LAYOUT.layers}/${def.build.layer}`, target });
  }
  return mounts;
}

/** What the worker is told at init about a bundle (names starting WEFT_ are refused in users' env). */
export function bundleEnv(def: Pick<FunctionDefinition, "runtime" | "build" | "handler">): Record<string, string> {
  if (!def.build) return {};
  return {
    WEFT_TASK_ROOT: TASK_ROOT,
    // A TypeScript bundle runs what esbuild made of it (shared/typescript.ts), which exports the handler's function.
    WEFT_HANDLER: isTypeScript(def.runtime)
      ? `${TS_BUNDLE_LOADER.slice(0, -".cjs".length)}.${handlerFunction(def.handler ?? DEFAULT_HANDLER)}`
      : (def.handler ?? DEFAULT_HANDLER),
    ...(def.build.layer && languageOf(def.runtime) === "python" ? { WEFT_LAYER: `${LAYER_ROOT}/python` } : {}),
  };
}
