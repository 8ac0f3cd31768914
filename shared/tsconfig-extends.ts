// A TypeScript bundle's tsconfig.json (or jsconfig.json) may extend another config, and esbuild reads that file
// wherever it is: an absolute path, a `../` climbing out of the build folder, or a package name looked up in every
// node_modules above it, on the controller's host. Its import guard never sees those reads (esbuild loads configs
// itself), so a bundle could probe the host's files, or build with settings taken from one of them. Here every
// config esbuild would read, and every config those extend, must be a relative path to a file inside the bundle.
import { posix } from "node:path";

export interface ConfigEscape {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** The names esbuild reads as a folder's config. */
const CONFIG_NAMES = new Set(["tsconfig.json", "jsconfig.json"]);

export type ConfinedConfigs = ({ ok: false } & ConfigEscape) | { ok: true; files: Map<string, Buffer>; warnings: string[] };

/**
 * The bundle's files with every config esbuild would read confined to it: an `extends` of a path outside the bundle
 * (absolute, or climbing out with `../`) is refused, naming the config; an `extends` of a package
 * (`@tsconfig/node20/tsconfig.json`) is dropped with a warning, as packages are not installed when a bundle is
 * compiled (esbuild found none before, and warned); a config that is not JSON with comments is refused.
 */
export function confineConfigs(files: ReadonlyMap<string, Buffer>): ConfinedConfigs {
  const out = new Map(files);
  const warnings: string[] = [];
  const checked = new Set<string>();
  const pending = [...files.keys()].filter((p) => CONFIG_NAMES.has(posix.basename(p))).sort();
  while (pending.length > 0) {
    const path = pending.shift()!;
    if (checked.has(path)) continue;
    checked.add(path);
    const text = files.get(path)!.toString("utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(jsonFromJsonc(text));
    } catch (err) {
      return { ok: false, file: path, line: 1, column: 1, message: `is not JSON (comments and trailing commas allowed): ${(err as Error).message}` };
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || !("extends" in parsed)) continue;
    const config = parsed as Record<string, unknown>;
    const at = positionOf(text, '"extends"');
    const targets = Array.isArray(config.extends) ? config.extends : [config.extends];
    const kept: string[] = [];
    for (const target of targets) {
      if (typeof target !== "string") return { ok: false, file: path, ...at, message: '"extends" must be a path (a string)' };
      if (isPackageName(target)) {
        warnings.push(`${path}:${at.line}:${at.column}: "extends" of a package (${JSON.stringify(target).slice(0, 200)}) is ignored: packages are not installed when the bundle is compiled`);
        continue;
      }
      const inside = extendedFile(files, path, target);
      if (inside === undefined) {
        return { ok: false, file: path, ...at, message: `"extends" must name a config inside the bundle by a relative path ("./base.json"): ${JSON.stringify(target).slice(0, 200)} is not one` };
      }
      kept.push(target);
      pending.push(inside);
    }
    if (kept.length < targets.length) {
      const { extends: _dropped, ...rest } = config;
      out.set(path, Buffer.from(JSON.stringify(kept.length === 0 ? rest : { ...rest, extends: kept })));
    }
  }
  return { ok: true, files: out, warnings };
}

/** A name esbuild would look up in node_modules folders (not a path: neither absolute nor starting with . ). */
const isPackageName = (target: string): boolean => target !== "" && !target.startsWith(".") && !target.startsWith("/") && !/^[A-Za-z]:|^\\|^file:/.test(target);

/** The bundle path `target` (extended by `from`) names, as TypeScript looks it up, or undefined when it is not in the bundle. */
function extendedFile(files: ReadonlyMap<string, Buffer>, from: string, target: string): string | undefined {
  if (!target.startsWith("./") && !target.startsWith("../")) return undefined;
  const joined = posix.normalize(posix.join(posix.dirname(from), target));
  if (joined.startsWith("../") || joined === ".." || posix.isAbsolute(joined)) return undefined;
  return [joined, `${joined}.json`, `${joined}/tsconfig.json`].find((p) => files.has(p));
}

/** Line and column (from 1) of `needle`'s first occurrence, or 1:1. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const at = text.indexOf(needle);
  if (at < 0) return { line: 1, column: 1 };
  const before = text.slice(0, at).split("\n");
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/** JSON with comments and trailing commas (what tsconfig.json allows) as plain JSON; strings are kept as they are. */
export function jsonFromJsonc(text: string): string {
  let out = "";
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const end = stringEnd(text, i);
      out += text.slice(i, end);
      i = end;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (c === "," && /^\s*[}\]]/.test(withoutComments(text.slice(i + 1, i + 1 + 4096)))) {
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Where the string starting at `start` (a quote) ends, past its closing quote. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
  return Math.min(i + 1, text.length);
}

/** The text with leading comments and whitespace dropped, to see what follows a comma. */
function withoutComments(text: string): string {
  let rest = text;
  for (;;) {
    const trimmed = rest.trimStart();
    if (trimmed.startsWith("//")) rest = trimmed.slice(trimmed.indexOf("\n") < 0 ? trimmed.length : trimmed.indexOf("\n"));
    else if (trimmed.startsWith("/*")) rest = trimmed.slice(trimmed.indexOf("*/") < 0 ? trimmed.length : trimmed.indexOf("*/") + 2);
    else return trimmed;
  }
}
