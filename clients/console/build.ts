// Builds the web console (Vite) into clients/console/dist when it is missing or stale. A hash of the console's
// sources, the lockfile and this script is kept in dist/.source-hash, so an unchanged console is not rebuilt.
// `npm run up` and `npm test` call this; `node --import tsx clients/console/build.ts [--force]` runs it by hand.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { extname, join, relative, resolve } from "node:path";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";

const CONSOLE_DIR = import.meta.dirname;
const REPO_ROOT = resolve(CONSOLE_DIR, "../..");
const DIST = join(CONSOLE_DIR, "dist");
const STAMP = join(DIST, ".source-hash");
/** Inputs besides the console's own files: the lockfile pins every dependency the bundle holds. */
const EXTRA_INPUTS = [join(REPO_ROOT, "package-lock.json")];

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "dist" || e.name === "node_modules" ? [] : files(path);
    return e.isFile() ? [path] : [];
  });
}

/** A hash of every input of the build; the same inputs always build the same console. */
export function sourceHash(): string {
  const hash = createHash("sha256");
  for (const path of [...files(CONSOLE_DIR).sort(), ...EXTRA_INPUTS]) {
    hash.update(relative(REPO_ROOT, path)).update("\0").update(readFileSync(path)).update("\0");
  }
  return hash.digest("hex");
}

export function isFresh(hash = sourceHash()): boolean {
  return existsSync(join(DIST, "index.html")) && existsSync(STAMP) && readFileSync(STAMP, "utf8").trim() === hash;
}

/** Builds unless the build in dist/ came from these very sources; says which it did. */
export async function ensureConsoleBuilt(opts: { force?: boolean; log?: (line: string) => void } = {}): Promise<"fresh" | "built"> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const hash = sourceHash();
  if (!opts.force && isFresh(hash)) return "fresh";
  const started = Date.now();
  const { build } = await import("vite");
  await build({ configFile: join(CONSOLE_DIR, "vite.config.ts"), logLevel: "warn" });
  precompress();
  writeFileSync(STAMP, `${hash}\n`);
  log(`console: built in ${Date.now() - started} ms (${relative(REPO_ROOT, DIST)}, ${totalKiB(DIST)} KiB)`);
  return "built";
}

/** Text files the gateway sends compressed; below the size, compressing saves less than it costs. */
const COMPRESSIBLE = new Set([".html", ".js", ".css", ".svg", ".json"]);
const COMPRESS_MIN_BYTES = 512;

/**
 * Brotli (best) and gzip copies beside each text file, which the gateway sends as they are: a gateway's first
 * page load then compresses nothing (gateway/console-assets.ts compresses a file on the fly only without them).
 */
function precompress(): void {
  for (const file of files(DIST)) {
    if (!COMPRESSIBLE.has(extname(file))) continue;
    const raw = readFileSync(file);
    if (raw.length < COMPRESS_MIN_BYTES) continue;
    writeFileSync(`${file}.br`, brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } }));
    writeFileSync(`${file}.gz`, gzipSync(raw, { level: 9 }));
  }
}

function totalKiB(dir: string): number {
  return Math.round(files(dir).reduce((n, f) => n + statSync(f).size, 0) / 1024);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  ensureConsoleBuilt({ force: process.argv.includes("--force") }).then(
    (outcome) => outcome === "fresh" && process.stderr.write("console: up to date\n"),
    (err: unknown) => {
      process.stderr.write(`console: build failed: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
