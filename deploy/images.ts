// Builds the runtime images (weft/runtime-python3.13, weft/runtime-nodejs20, ...) from deploy/images/<language>/
// through the engine's classic builder, with no registry: the Debian base comes in as the BASE build argument.
// One Dockerfile per language serves every version of it; the base (bookworm or trixie) picks the version.
// As a script: npx tsx deploy/images.ts [--force [--no-cache]] [RUNTIME...]
//   (bases: WEFT_BASE_IMAGE, default weft/base:bookworm; WEFT_BASE_IMAGE_TRIXIE, default weft/base:trixie)
import Dockerode from "dockerode";
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Logger } from "../shared/logger.js";
import { createLogger } from "../shared/logger.js";
import { IMAGE_RUNTIMES, RUNTIME_INFO, type ImageRuntime } from "../shared/runtimes.js";

type Runtime = ImageRuntime;
type Suite = "bookworm" | "trixie";
export type BaseImages = Record<Suite, string>;

export const DEFAULT_BASE_IMAGE = "weft/base:bookworm";
export const DEFAULT_TRIXIE_BASE_IMAGE = "weft/base:trixie";
export const DEFAULT_BASE_IMAGES: BaseImages = { bookworm: DEFAULT_BASE_IMAGE, trixie: DEFAULT_TRIXIE_BASE_IMAGE };
export const RUNTIME_IMAGES: Record<Runtime, string> = {
  "python3.11": "weft/runtime-python3.11:latest",
  "python3.13": "weft/runtime-python3.13:latest",
  nodejs18: "weft/runtime-nodejs18:latest",
  nodejs20: "weft/runtime-nodejs20:latest",
  rust: "weft/runtime-rust:latest",
};
/** Image label holding a hash of the Dockerfile, the runner and the base: a change to any rebuilds the image. */
export const HASH_LABEL = "weft.runtime-hash";

const IMAGES_DIR = join(dirname(fileURLToPath(import.meta.url)), "images");
/** The folder under deploy/images/ of each language, and the files of it that go into the image. */
const LANGUAGE_SOURCES = {
  python: { dir: "python3", files: ["Dockerfile", "runtime/worker.py"] },
  javascript: { dir: "nodejs", files: ["Dockerfile", "runtime/worker.js"] },
  // The runner alone: a rust function's worker is its own binary, mounted from its build layer.
  rust: { dir: "rust", files: ["Dockerfile"] },
} as const;
const sourcesOf = (runtime: Runtime) => {
  const language = RUNTIME_INFO[runtime].language;
  return LANGUAGE_SOURCES[language === "python" || language === "rust" ? language : "javascript"];
};
const suiteOf = (runtime: Runtime): Suite => RUNTIME_INFO[runtime].debian;
/** The trusted runner (Go, no dependencies), the same binary in every runtime image. */
const RUNNER_DIR = join(IMAGES_DIR, "runner");
const RUNNER_BINARY = "weft-runner";

export interface EnsureImagesOptions {
  /** The Debian base of each suite (see deploy/services.sh, which makes them with debootstrap). */
  bases: BaseImages;
  force?: boolean;
  /** Build without the engine's layer cache (with force: a cold build, to time one). */
  noCache?: boolean;
  log: Logger;
  /** Tags to build; defaults to RUNTIME_IMAGES. */
  images?: Partial<Record<Runtime, string>>;
  /** Only these runtimes (default: every one). */
  only?: readonly Runtime[];
}

export interface ImageOutcome {
  runtime: Runtime;
  /** The tag asked for (e.g. weft/runtime-python3.13:latest). */
  image: string;
  /** The same image under a tag naming its source hash: what an agent should run, so that two checkouts
   * building different runners on one engine never swap each other's image under a shared tag. */
  pinned: string;
  action: "built" | "up-to-date";
  ms: number;
}

async function runnerSources(): Promise<string[]> {
  return (await readdir(RUNNER_DIR)).filter((f) => f.endsWith(".go") || f === "go.mod").sort();
}

async function sourceHash(runtime: Runtime, base: string, baseId: string): Promise<string> {
  const h = createHash("sha256").update(`${runtime}\0${base}\0${baseId}\0`);
  const sources = sourcesOf(runtime);
  for (const file of sources.files) {
    h.update(`${file}\0`).update(await readFile(join(IMAGES_DIR, sources.dir, file))).update("\0");
  }
  for (const file of await runnerSources()) {
    h.update(`runner/${file}\0`).update(await readFile(join(RUNNER_DIR, file))).update("\0");
  }
  return h.digest("hex").slice(0, 32);
}

function goBinary(): string {
  const candidates = [process.env.WEFT_GO_BIN, "/usr/local/go/bin/go", "/usr/lib/go/bin/go"];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return "go"; // from PATH; a missing one is reported by buildRunner
}

/** Builds weft-runner (static, no cgo) into `dir`. */
async function buildRunner(dir: string): Promise<void> {
  const out = join(dir, RUNNER_BINARY);
  try {
    await promisify(execFile)(goBinary(), ["build", "-trimpath", "-ldflags=-s -w", "-o", out, "."], {
      cwd: RUNNER_DIR,
      env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=mod" },
    });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    const why = e.code === "ENOENT" ? "Go is not installed (deploy/services.sh installs it; or set WEFT_GO_BIN)" : (e.stderr || e.message);
    throw new Error(`building weft-runner (deploy/images/runner) failed: ${why}`);
  }
}

/** A build context of the runtime's files plus the runner binary. */
async function buildContext(runtime: Runtime, runner: () => Promise<string>): Promise<{ dir: string; files: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), `weft-image-${runtime}-`));
  const sources = sourcesOf(runtime);
  for (const file of sources.files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(IMAGES_DIR, sources.dir, file), join(dir, file));
  }
  await copyFile(await runner(), join(dir, RUNNER_BINARY));
  return { dir, files: [...sources.files, RUNNER_BINARY] };
}

async function imageLabel(docker: Dockerode, image: string): Promise<string | undefined> {
  try {
    const info = await docker.getImage(image).inspect();
    return info.Config?.Labels?.[HASH_LABEL] ?? "";
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

async function baseImageId(docker: Dockerode, base: string): Promise<string> {
  try {
    return (await docker.getImage(base).inspect()).Id;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    throw new Error(
      `base image ${base} is not in the Docker engine; run deploy/services.sh (which makes weft/base:bookworm and ` +
        `weft/base:trixie with debootstrap) or set WEFT_BASE_IMAGE / WEFT_BASE_IMAGE_TRIXIE to an image with python3 and node`,
    );
  }
}

/** The runner, built at most once per ensureRuntimeImages call, however many images need it. */
function runnerOnce(): { get: () => Promise<string>; cleanup: () => Promise<void> } {
  let built: Promise<string> | undefined;
  let dir: string | undefined;
  return {
    get: () =>
      (built ??= (async () => {
        dir = await mkdtemp(join(tmpdir(), "weft-runner-"));
        await buildRunner(dir);
        return join(dir, RUNNER_BINARY);
      })()),
    cleanup: async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

async function build(docker: Dockerode, runtime: Runtime, image: string, base: string, hash: string, runner: () => Promise<string>, noCache: boolean): Promise<void> {
  const context = await buildContext(runtime, runner);
  try {
    await buildFrom(docker, context, image, base, hash, runtime, noCache);
  } finally {
    await rm(context.dir, { recursive: true, force: true });
  }
}

async function buildFrom(docker: Dockerode, context: { dir: string; files: string[] }, image: string, base: string, hash: string, runtime: Runtime, noCache = false): Promise<void> {
  const stream = await docker.buildImage(
    { context: context.dir, src: context.files },
    { t: image, buildargs: { BASE: base }, nocache: noCache, labels: { [HASH_LABEL]: hash, "weft.runtime": runtime }, rm: true, forcerm: true, version: "1" },
  );
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
        const failed = events?.find((e) => e.error);
        if (err) reject(err);
        else if (failed) reject(new Error(`building ${image}: ${failed.errorDetail?.message ?? failed.error}`));
        else resolve();
      },
    );
  });
}

/** `repo:tag` → `repo:src-<hash>`. */
export function pinnedTag(image: string, hash: string): string {
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  const repo = colon > slash ? image.slice(0, colon) : image;
  return `${repo}:src-${hash.slice(0, 16)}`;
}

async function tag(docker: Dockerode, from: string, to: string): Promise<void> {
  const colon = to.lastIndexOf(":");
  const slash = to.lastIndexOf("/");
  const [repo, t] = colon > slash ? [to.slice(0, colon), to.slice(colon + 1)] : [to, "latest"];
  await docker.getImage(from).tag({ repo, tag: t });
}

/** Builds each runtime image that is missing, stale (its sources or base changed) or, with force, every one. */
export async function ensureRuntimeImages(docker: Dockerode, opts: EnsureImagesOptions): Promise<ImageOutcome[]> {
  const images = { ...RUNTIME_IMAGES, ...opts.images };
  const baseIds = new Map<string, string>();
  const outcomes: ImageOutcome[] = [];
  const runner = runnerOnce();
  try {
    for (const runtime of opts.only ?? IMAGE_RUNTIMES) outcomes.push(await ensureImage(docker, opts, runtime, images[runtime], baseIds, runner.get));
  } finally {
    await runner.cleanup();
  }
  return outcomes;
}

async function ensureImage(
  docker: Dockerode, opts: EnsureImagesOptions, runtime: Runtime, image: string, baseIds: Map<string, string>, runner: () => Promise<string>,
): Promise<ImageOutcome> {
  const started = Date.now();
  const base = opts.bases[suiteOf(runtime)];
  if (!baseIds.has(base)) baseIds.set(base, await baseImageId(docker, base));
  const hash = await sourceHash(runtime, base, baseIds.get(base)!);
  const pinned = pinnedTag(image, hash);
  if (!opts.force && (await imageLabel(docker, pinned)) === hash) {
    if ((await imageLabel(docker, image)) !== hash) await tag(docker, pinned, image);
    return { runtime, image, pinned, action: "up-to-date", ms: Date.now() - started };
  }
  opts.log.info({ runtime, image, base }, "building runtime image");
  await build(docker, runtime, pinned, base, hash, runner, opts.noCache ?? false);
  await tag(docker, pinned, image);
  const outcome: ImageOutcome = { runtime, image, pinned, action: "built", ms: Date.now() - started };
  opts.log.info(outcome, "runtime image built");
  return outcome;
}

/** The bases named by the environment (WEFT_BASE_IMAGE for bookworm, WEFT_BASE_IMAGE_TRIXIE), else the defaults. */
export function baseImagesFromEnv(env: NodeJS.ProcessEnv): BaseImages {
  return { bookworm: env.WEFT_BASE_IMAGE || DEFAULT_BASE_IMAGE, trixie: env.WEFT_BASE_IMAGE_TRIXIE || DEFAULT_TRIXIE_BASE_IMAGE };
}

async function main(): Promise<void> {
  const log = createLogger("images", process.env.WEFT_LOG_LEVEL ?? "warn");
  const docker = new Dockerode({ socketPath: process.env.WEFT_DOCKER_SOCKET ?? "/var/run/docker.sock" });
  const bases = baseImagesFromEnv(process.env);
  const named = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const unknown = named.filter((n) => !(IMAGE_RUNTIMES as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`unknown runtime ${unknown.join(", ")} (one of ${IMAGE_RUNTIMES.join(", ")})`);
  const only = named.length ? (named as Runtime[]) : undefined;
  const outcomes = await ensureRuntimeImages(docker, { bases, force: process.argv.includes("--force"), noCache: process.argv.includes("--no-cache"), log, only });
  for (const o of outcomes) console.log(`${o.pinned}: ${o.action} (${o.ms} ms, base ${bases[suiteOf(o.runtime)]}; also tagged ${o.image})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(`deploy/images.ts: ${err.message}`);
    process.exit(1);
  });
}
