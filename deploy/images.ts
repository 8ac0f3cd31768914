// Builds the runtime images (weft/runtime-python3, weft/runtime-nodejs) from deploy/images/<runtime>/ through the
// engine's classic builder, with no registry: the base comes in as the BASE build argument.
// As a script: npx tsx deploy/images.ts [--force]   (base: WEFT_BASE_IMAGE, default weft/base:bookworm)
import Dockerode from "dockerode";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
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
  python3: ["Dockerfile", "runtime/runner.py"],
  nodejs: ["Dockerfile", "runtime/runner.js"],
};

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

async function sourceHash(runtime: Runtime, base: string, baseId: string): Promise<string> {
  const h = createHash("sha256").update(`${base}\0${baseId}\0`);
  for (const file of SOURCES[runtime]) {
    h.update(`${file}\0`).update(await readFile(join(IMAGES_DIR, runtime, file))).update("\0");
  }
  return h.digest("hex").slice(0, 32);
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
  const stream = await docker.buildImage(
    { context: join(IMAGES_DIR, runtime), src: SOURCES[runtime] },
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
  for (const o of outcomes) console.log(`${o.image}: ${o.action} (${o.ms} ms, base ${base})`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(`deploy/images.ts: ${err.message}`);
    process.exit(1);
  });
}
