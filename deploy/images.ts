// Builds the runtime images (weft/runtime-python3, weft/runtime-nodejs) from deploy/images/<runtime>/ through the
// engine's classic builder, with no registry: the base comes in as the BASE build argument.
// As a script: npx tsx deploy/images.ts [--force]   (base: WEFT_BASE_IMAGE, default weft/base:bookworm)
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
import type { RUNTIMES } from "../shared/schemas/function.js";

type Runtime = (typeof RUNTIMES)[number];

export const DEFAULT_BASE_IMAGE = "weft/base:bookworm";
export const RUNTIME_IMAGES: Record<Runtime, string> = {
  python3: "weft/runtime-python3:latest",
  nodejs: "weft/runtime-nodejs:latest",
};
/** Image label holding a hash of the Dockerfile, the runner and the base: a change to any rebuilds the image. */
export const HASH_LABEL = "weft.runtime-hash";

const IMAGES_DIR = join(dirname(fileURLToPath(import.meta.url)), "images");
const SOURCES: Record<Runtime, string[]> = {
  python3: ["Dockerfile", "runtime/worker.py"],
  nodejs: ["Dockerfile", "runtime/worker.js"],
};
/** The trusted runner (Go, no dependencies), the same binary in every runtime image. */
const RUNNER_DIR = join(IMAGES_DIR, "runner");
const RUNNER_BINARY = "weft-runner";

export interface EnsureImagesOptions {
  base: string;
  force?: boolean;
  log: Logger;
  /** Tags to build; defaults to RUNTIME_IMAGES. */
  images?: Partial<Record<Runtime, string>>;
}

export interface ImageOutcome {
  runtime: Runtime;
  /** The tag asked for (e.g. weft/runtime-python3:latest). */
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
  const h = createHash("sha256").update(`${base}\0${baseId}\0`);
  for (const file of SOURCES[runtime]) {
    h.update(`${file}\0`).update(await readFile(join(IMAGES_DIR, runtime, file))).update("\0");
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
async function buildContext(runtime: Runtime): Promise<{ dir: string; files: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), `weft-image-${runtime}-`));
  for (const file of SOURCES[runtime]) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(IMAGES_DIR, runtime, file), join(dir, file));
  }
  await buildRunner(dir);
  return { dir, files: [...SOURCES[runtime], RUNNER_BINARY] };
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
      `base image ${base} is not in the Docker engine; run deploy/setup (which makes weft/base:bookworm with debootstrap) ` +
        `or set WEFT_BASE_IMAGE to an image with python3 and node, e.g. after docker pull debian:bookworm`,
    );
  }
}

async function build(docker: Dockerode, runtime: Runtime, image: string, base: string, hash: string): Promise<void> {
  const context = await buildContext(runtime);
  try {
    await buildFrom(docker, context, image, base, hash, runtime);
  } finally {
    await rm(context.dir, { recursive: true, force: true });
  }
}

async function buildFrom(docker: Dockerode, context: { dir: string; files: string[] }, image: string, base: string, hash: string, runtime: Runtime): Promise<void> {
  const stream = await docker.buildImage(
    { context: context.dir, src: context.files },
    { t: image, buildargs: { BASE: base }, labels: { [HASH_LABEL]: hash, "weft.runtime": runtime }, rm: true, forcerm: true, version: "1" },
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
  const baseId = await baseImageId(docker, opts.base);
  const outcomes: ImageOutcome[] = [];
  for (const runtime of Object.keys(SOURCES) as Runtime[]) {
    const started = Date.now();
    const image = images[runtime];
    const hash = await sourceHash(runtime, opts.base, baseId);
    const pinned = pinnedTag(image, hash);
    if (!opts.force && (await imageLabel(docker, pinned)) === hash) {
      if ((await imageLabel(docker, image)) !== hash) await tag(docker, pinned, image);
      outcomes.push({ runtime, image, pinned, action: "up-to-date", ms: Date.now() - started });
      continue;
    }
    opts.log.info({ runtime, image, base: opts.base }, "building runtime image");
    await build(docker, runtime, pinned, opts.base, hash);
    await tag(docker, pinned, image);
    const outcome: ImageOutcome = { runtime, image, pinned, action: "built", ms: Date.now() - started };
    opts.log.info(outcome, "runtime image built");
    outcomes.push(outcome);
  }
  return outcomes;
}

async function main(): Promise<void> {
  const log = createLogger("images", process.env.WEFT_LOG_LEVEL ?? "warn");
  const docker = new Dockerode({ socketPath: process.env.WEFT_DOCKER_SOCKET ?? "/var/run/docker.sock" });
  const base = process.env.WEFT_BASE_IMAGE || DEFAULT_BASE_IMAGE;
  const outcomes = await ensureRuntimeImages(docker, { base, force: process.argv.includes("--force"), log });
  for (const o of outcomes) console.log(`${o.pinned}: ${o.action} (${o.ms} ms, base ${base}; also tagged ${o.image})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(`deploy/images.ts: ${err.message}`);
    process.exit(1);
  });
}
