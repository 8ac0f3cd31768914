// A rust function's build: Weft's worker crate (deploy/images/rust/wrapper, a binary depending on the user's
// library as `function`) is laid beside the user's package, and cargo compiles both into one binary, the layer.
// Cargo's registry and target folders persist between builds in a cache keyed by the function and its Cargo.lock:
// a new version whose dependencies did not change recompiles only the function and the wrapper. The cache is per
// function, never shared, because a build script of one function's package could rewrite what another links.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cargoPackageName } from "../../shared/bundle.js";

const WRAPPER_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "deploy", "images", "rust", "wrapper");
const WRAPPER_FILES = ["build.rs", "src/main.rs"] as const;
const MANIFEST_TEMPLATE = readFileSync(join(WRAPPER_DIR, "Cargo.toml.in"), "utf8");
const WRAPPER_SOURCES = new Map(WRAPPER_FILES.map((f) => [f, readFileSync(join(WRAPPER_DIR, f))]));

/** Where the user's package and the wrapper go in the builder's source folder. */
export const FUNCTION_DIR = "function";
export const WRAPPER_CRATE = "weft-function";
/** The binary in the layer; the rust runtime image runs it as its worker (deploy/images/rust/Dockerfile). */
export const RUST_BINARY = "weft-function";

/**
 * What a rust build compiles: the user's files under function/, the wrapper under weft-function/ with a manifest
 * naming the user's package and the user's Cargo.lock (cargo adds the two path packages and nothing else). These
 * bytes address the layer, so a change to the wrapper builds again.
 */
export function rustBuildInputs(files: Map<string, Buffer>): Map<string, Buffer> {
  const name = cargoPackageName(files.get("Cargo.toml")?.toString("utf8") ?? "");
  if (!name) throw new Error('Cargo.toml has no [package] name = "..."');
  const inputs = new Map<string, Buffer>();
  for (const [path, bytes] of files) inputs.set(`${FUNCTION_DIR}/${path}`, bytes);
  for (const [path, bytes] of WRAPPER_SOURCES) inputs.set(`${WRAPPER_CRATE}/${path}`, bytes);
  inputs.set(`${WRAPPER_CRATE}/Cargo.toml`, Buffer.from(MANIFEST_TEMPLATE.replace("@PACKAGE@", name)));
  const lock = files.get("Cargo.lock");
  if (lock) inputs.set(`${WRAPPER_CRATE}/Cargo.lock`, lock);
  inputs.set(SCRIPT_NAME, Buffer.from(BUILD_SCRIPT));
  return inputs;
}

/** The cargo cache a build of this function with this Cargo.lock uses. */
export function cargoCacheKey(functionName: string, inputs: Map<string, Buffer>): string {
  const lock = inputs.get(`${FUNCTION_DIR}/Cargo.lock`) ?? Buffer.alloc(0);
  const fn = createHash("sha256").update(functionName).digest("hex").slice(0, 16);
  return `${fn}-${createHash("sha256").update(lock).digest("hex").slice(0, 32)}`;
}

/** The cache's mount point in the builder. */
export const CARGO_CACHE_IN_BUILDER = "/cargo";

/**
 * What runs in the builder: cargo's output to stderr (the build log), the layer (the binary) as a tar on stdout.
 * It travels with the inputs (weft-build.sh), so a change to it addresses new layers too.
 */
const BUILD_SCRIPT = [
  "set -e",
  "mkdir -p /build/tmp /build/home /build/out /cargo/home /cargo/target",
  "cp -R /src/. /build/work",
  // An operator's mirror of crates.io (WEFT_CARGO_REGISTRY) is a source replacement, which only a config file says.
  'if [ -n "$WEFT_CARGO_REGISTRY" ]; then printf \'[source.crates-io]\\nreplace-with = "weft-mirror"\\n[source.weft-mirror]\\nregistry = "%s"\\n\' "$WEFT_CARGO_REGISTRY" > /cargo/home/config.toml; else rm -f /cargo/home/config.toml; fi',
  "echo \"$(rustc --version), $(cargo --version)\" >&2",
  // The user's lockfile must match their manifest (a repeatable build): checked, and the crates fetched, first.
  'cargo fetch --locked --target "$(rustc -vV | sed -n "s/^host: //p")" --manifest-path /build/work/function/Cargo.toml >&2',
  // The wrapper's lockfile is the user's plus the two path packages; the versions locked stay as they are.
  "cd /build/work/weft-function",
  "cargo build --release >&2",
  "cp /cargo/target/release/weft-function /build/out/weft-function",
  "tar -C /build/out -cf - .",
].join("\n");
const SCRIPT_NAME = "weft-build.sh";
/** The builder's command: the script among the inputs. */
export const RUST_SCRIPT = `exec sh /src/${SCRIPT_NAME}`;

/** The builder's environment for cargo: its home and target in the cache, the sparse index, the CA, the proxies. */
export function cargoEnv(opts: { caInBuilder: string; registry: string; cpus: number }): string[] {
  return [
    `CARGO_HOME=${CARGO_CACHE_IN_BUILDER}/home`,
    `CARGO_TARGET_DIR=${CARGO_CACHE_IN_BUILDER}/target`,
    "CARGO_REGISTRIES_CRATES_IO_PROTOCOL=sparse",
    "CARGO_TERM_COLOR=never",
    "CARGO_TERM_PROGRESS_WHEN=never",
    "CARGO_NET_RETRY=3",
    "CARGO_INCREMENTAL=0",
    `CARGO_BUILD_JOBS=${Math.max(1, Math.ceil(opts.cpus))}`,
    ...(opts.caInBuilder ? [`CARGO_HTTP_CAINFO=${opts.caInBuilder}`] : []),
    ...(opts.registry ? [`WEFT_CARGO_REGISTRY=${opts.registry}`] : []),
  ];
}
