// TypeScript to the JavaScript the Node runtime loads, at deploy (the controller) and for ad-hoc code (the gateway).
// esbuild strips the types without checking them, in milliseconds: a deploy must not wait for a type checker, and
// a type error is the author's editor's business, not a reason to refuse code that runs.
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { TS_BUNDLE_LOADER, TS_BUNDLE_OUTPUT } from "./bundle.js";
import { confineConfigs } from "./tsconfig-extends.js";
import { build, transform, version as esbuildVersion, type BuildFailure, type Loader, type Message, type Plugin, type TransformFailure } from "esbuild";

/** The name the code has in error messages and in stack traces (the worker loads the output as /tmp/handler.js). */
export const TYPESCRIPT_FILE = "handler.ts";

export type Transpiled = { ok: true; code: string } | { ok: false; file: string; line: number; column: number; message: string };

/**
 * CommonJS out, whatever the source uses: the worker loads a CommonJS module, and esbuild turns `export` and
 * `import` into `exports` and `require`. The inline source map lets Node (source maps enabled by the worker)
 * name handler.ts's lines in a stack; it leaves out the source itself, which the stack does not need.
 */
export async function transpileTypeScript(source: string): Promise<Transpiled> {
  try {
    const out = await transform(source, {
      loader: "ts",
      format: "cjs",
      target: "node20",
      platform: "node",
      sourcemap: "inline",
      sourcesContent: false,
      sourcefile: TYPESCRIPT_FILE,
      logLevel: "silent",
    });
    return { ok: true, code: out.code };
  } catch (err) {
    const first = (err as Partial<TransformFailure>).errors?.[0];
    if (!first) throw err;
    return located(first);
  }
}

/** esbuild's columns count from 0; people and editors count from 1. */
function located(m: Message): Transpiled {
  return {
    ok: false,
    file: m.location?.file || TYPESCRIPT_FILE,
    line: m.location?.line ?? 1,
    column: (m.location?.column ?? 0) + 1,
    message: m.text,
  };
}

/** "handler.ts:3:14: Expected ";" but found "x"". */
export const describeTranspileError = (t: Extract<Transpiled, { ok: false }>): string => `${t.file}:${t.line}:${t.column}: ${t.message}`;

// ---- TypeScript bundles ------------------------------------------------------------------------------------------

/**
 * Salts a TypeScript bundle's content address: its code folder holds what this esbuild made of the files, so
 * another compiler (or the same files deployed as JavaScript) gets a folder of its own.
 */
export const TS_BUNDLE_SALT = `weft-typescript-v1:esbuild-${esbuildVersion}:`;

const SCRIPT_LOADERS: Record<string, Loader> = {
  ".ts": "ts", ".mts": "ts", ".cts": "ts", ".tsx": "tsx", ".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "jsx",
};

export type TranspileError = Extract<Transpiled, { ok: false }>;
export type BundledTypeScript = { ok: true; files: Map<string, Buffer>; warnings: string[] } | TranspileError;

/**
 * Checks every script of a bundle, then bundles its entry (local modules inlined, packages left to `require` from
 * the dependency layer at run time) into CommonJS with an inline source map whose sources are the bundle's own
 * paths: a stack names `/var/task/lib/greet.ts:4:11`. ES modules and CommonJS sources both work, as esbuild mixes
 * them. The answer is the files to add to the bundle, or the first problem with its file, line and column.
 */
export async function bundleTypeScript(files: Map<string, Buffer>, entry: string): Promise<BundledTypeScript> {
  const syntax = await checkScripts(files);
  if (syntax) return syntax;
  const confined = confineConfigs(files);
  if (!confined.ok) return confined;
  // Its real path: esbuild reports files by theirs, and the confinement below compares with it.
  const root = await realpath(await mkdtemp(join(tmpdir(), "weft-ts-")));
  try {
    await layOut(root, confined.files);
    const out = await bundleAt(root, entry);
    return out.ok ? { ...out, warnings: [...confined.warnings, ...out.warnings] } : out;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The first script (in path order) that does not parse, so a syntax error in a file the entry never imports is refused too. */
async function checkScripts(files: Map<string, Buffer>): Promise<TranspileError | undefined> {
  const scripts = [...files.keys()].filter((p) => SCRIPT_LOADERS[extname(p)] && !p.split("/").includes("node_modules")).sort();
  const results = await Promise.all(scripts.map((path) => parseScript(path, files.get(path)!)));
  return results.find((r) => r !== undefined);
}

async function parseScript(path: string, bytes: Buffer): Promise<TranspileError | undefined> {
  try {
    await transform(bytes.toString("utf8"), { loader: SCRIPT_LOADERS[extname(path)], sourcefile: path, logLevel: "silent", format: "esm" });
    return undefined;
  } catch (err) {
    const first = (err as Partial<TransformFailure>).errors?.[0];
    if (!first) throw err;
    return { ...(located(first) as TranspileError), file: path };
  }
}

/**
 * The files in a private folder, for esbuild to resolve among (tsconfig.json paths, index files, extensions). An
 * empty package.json and tsconfig.json stand in for missing ones, so esbuild never reads one from a folder above.
 */
async function layOut(root: string, files: Map<string, Buffer>): Promise<void> {
  for (const [path, bytes] of files) {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes, { flag: "wx" });
  }
  for (const stub of ["package.json", "tsconfig.json"]) if (!files.has(stub)) await writeFile(join(root, stub), "{}");
}

async function bundleAt(root: string, entry: string): Promise<BundledTypeScript> {
  const outfile = join(root, TS_BUNDLE_OUTPUT);
  try {
    const out = await build({
      absWorkingDir: root,
      entryPoints: [entry],
      outfile,
      bundle: true,
      packages: "external",
      format: "cjs",
      platform: "node",
      target: "node20",
      sourcemap: "inline",
      sourcesContent: false,
      // An error's type is its class's name: bundling must not rename a class that two files both define.
      keepNames: true,
      write: false,
      logLevel: "silent",
      plugins: [confinedTo(root)],
    });
    const code = out.outputFiles.find((f) => f.path === outfile)?.contents;
    if (!code) throw new Error("esbuild wrote no bundle");
    const generated = new Map([
      [TS_BUNDLE_OUTPUT, Buffer.from(code)],
      [TS_BUNDLE_LOADER, Buffer.from(`"use strict";\nprocess.setSourceMapsEnabled(true);\nmodule.exports = require("./${TS_BUNDLE_OUTPUT}");\n`)],
    ]);
    return { ok: true, files: generated, warnings: out.warnings.map((w) => describeMessage(root, w)) };
  } catch (err) {
    const first = (err as Partial<BuildFailure>).errors?.[0];
    if (!first) throw err;
    const file = bundlePath(root, first.location?.file);
    // A problem in a file outside the bundle (a tsconfig "extends" naming one of the host's) shows nothing of it.
    if (!file && first.location?.file) return { ok: false, file: entry, line: 1, column: 1, message: "the bundle (an import, or its tsconfig.json) refers to a file outside it" };
    return { ...(located(first) as TranspileError), file: file ?? entry };
  }
}

/**
 * Nothing outside the bundle's folder is read into it: an absolute or `../../` import of a file of the host, or a
 * source map a script names in a `sourceMappingURL` comment (esbuild reads that file itself, past onLoad, and puts
 * its sources and names into the bundle's map).
 */
function confinedTo(root: string): Plugin {
  return {
    name: "weft-confine",
    setup(b) {
      b.onLoad({ filter: /.*/ }, async (args) => {
        if (args.namespace !== "file") return undefined;
        if (!args.path.startsWith(root + sep)) return { errors: [{ text: "imports a file outside the bundle" }] };
        if (!SCRIPT_LOADERS[extname(args.path)]) return undefined;
        const outside = sourceMapOutside(root, args.path, await readFile(args.path, "utf8"));
        if (!outside) return undefined;
        return { errors: [{ text: "names a source map outside the bundle (a sourceMappingURL comment)", location: { file: args.path, ...outside } }] };
      });
    },
  };
}

/** esbuild's three spellings of a source map comment, and the URL each names. */
const SOURCE_MAP_COMMENT = /(?:\/\/|\/\*)[#@][ \t]*sourceMappingURL=([^\s'"*]*)/g;

/** Where (line, column from 0) a script names a source map that is not inline and not a file of the bundle. */
function sourceMapOutside(root: string, file: string, text: string): { line: number; column: number } | undefined {
  if (!text.includes("sourceMappingURL")) return undefined;
  for (const m of text.matchAll(SOURCE_MAP_COMMENT)) {
    const url = m[1]!;
    if (url.startsWith("data:")) continue;
    let path: string;
    try {
      path = resolve(dirname(file), decodeURIComponent(url));
    } catch {
      path = "";
    }
    if (!url.includes(":") && path.startsWith(root + sep)) continue;
    const before = text.slice(0, m.index).split("\n");
    return { line: before.length, column: before.at(-1)!.length };
  }
  return undefined;
}

/** A path esbuild reports, relative to the bundle; undefined for one outside it (whose name says nothing useful). */
function bundlePath(root: string, file: string | undefined): string | undefined {
  if (!file) return undefined;
  const rel = relative(root, resolve(root, file));
  return rel.startsWith("..") || isAbsolute(rel) ? undefined : rel.split(sep).join("/");
}

const describeMessage = (root: string, m: Message): string => {
  const where = bundlePath(root, m.location?.file);
  if (!where) return m.location?.file ? "a warning about a file outside the bundle" : m.text;
  return m.location ? `${where}:${m.location.line}:${m.location.column + 1}: ${m.text}` : m.text;
};
