// Builds the images of the Compose fabric through the engine's classic builder, with no registry: nats-server and
// FerretDB from the binaries deploy/services.sh built, and Weft's components from this checkout, all on the
// debootstrap base. Each image is also tagged by its content (img-<image id>), and that tag is what Compose runs,
// so two checkouts building on one engine never swap each other's image under a shared tag.
import Dockerode from "dockerode";
import { spawn } from "node:child_process";
import { copyFile, mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { Logger } from "../../shared/logger.js";
import { baseImagesFromEnv, ensureRuntimeImages } from "../images.js";

const ROOT = resolve(import.meta.dirname, "../..");
const IMAGES_DIR = join(ROOT, "deploy/compose/images");

/** What the fabric image holds of the checkout; build tooling (TypeScript, type packages) stays out. */
const FABRIC_PATHS = ["package.json", "tsconfig.json", "node_modules", "proto", "shared", "deploy", "controller", "agents", "gateway"];
const FABRIC_EXCLUDES = ["node_modules/typescript", "node_modules/@typescript", "node_modules/@types"];

export interface ComposeImages {
  WEFT_NATS_IMAGE: string;
  WEFT_FERRETDB_IMAGE: string;
  WEFT_FABRIC_IMAGE: string;
  WEFT_IMAGE_PYTHON3_11: string;
  WEFT_IMAGE_PYTHON3_13: string;
  WEFT_IMAGE_NODEJS18: string;
  WEFT_IMAGE_NODEJS20: string;
  WEFT_IMAGE_RUST: string;
}

export interface BuildOptions {
  docker: Dockerode;
  base: string;
  natsServerBin: string;
  ferretdbBin: string;
  log: Logger;
}

/** Runs a build and resolves with the image id the builder reports. */
async function build(docker: Dockerode, context: NodeJS.ReadableStream | { context: string; src: string[] }, opts: Record<string, unknown>): Promise<string> {
  const stream = await docker.buildImage(context as never, { ...opts, rm: true, forcerm: true, version: "1" });
  return new Promise((resolveId, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, events: Array<{ error?: string; aux?: { ID?: string } }>) => {
      const failed = events?.find((e) => e.error);
      const id = events?.find((e) => e.aux?.ID)?.aux?.ID;
      if (err) reject(err);
      else if (failed) reject(new Error(`building ${String(opts.t)}: ${failed.error}`));
      else if (!id) reject(new Error(`building ${String(opts.t)}: the builder reported no image id`));
      else resolveId(id);
    });
  });
}

/** Tags the image `repo:img-<id>` and `repo:latest`; returns the first. */
async function pin(docker: Dockerode, repo: string, id: string): Promise<string> {
  const tag = `img-${id.replace(/^sha256:/, "").slice(0, 16)}`;
  await docker.getImage(id).tag({ repo, tag });
  await docker.getImage(id).tag({ repo, tag: "latest" });
  return `${repo}:${tag}`;
}

/** An image of one static binary: a small context of its Dockerfile and the binary. */
async function buildBinaryImage(o: BuildOptions, name: "nats" | "ferretdb", binary: string, file: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `weft-compose-${name}-`));
  try {
    await copyFile(join(IMAGES_DIR, name, "Dockerfile"), join(dir, "Dockerfile"));
    await copyFile(binary, join(dir, file));
    const repo = `weft/compose-${name}`;
    const id = await build(o.docker, { context: dir, src: ["Dockerfile", file] }, { t: `${repo}:latest`, buildargs: { BASE: o.base } });
    return pin(o.docker, repo, id);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The checkout streamed as the build context (tar, so node_modules is not copied first), plus this host's node. */
async function buildFabricImage(o: BuildOptions): Promise<string> {
  const node = await realpath(process.execPath);
  const args = ["-c", "-f", "-", ...FABRIC_EXCLUDES.map((e) => `--exclude=${e}`), "-C", ROOT, ...FABRIC_PATHS];
  // The node binary lands at the root of the context as "node", whatever it is called on the host.
  args.push("-C", dirname(node), `--transform=s,^${basename(node)}$,node,`, basename(node));
  const tar = spawn("tar", args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  tar.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const tarDone = new Promise<void>((ok, fail) =>
    tar.once("close", (code) => (code === 0 ? ok() : fail(new Error(`tar of the build context failed (${code}): ${stderr}`)))),
  );
  const id = await build(o.docker, tar.stdout, {
    t: "weft/fabric:latest",
    dockerfile: "deploy/compose/images/fabric/Dockerfile",
    buildargs: { BASE: o.base },
  });
  await tarDone;
  return pin(o.docker, "weft/fabric", id);
}

/** Builds (or finds up to date, through the builder's cache) every image the Compose file runs. */
export async function buildComposeImages(o: BuildOptions): Promise<ComposeImages> {
  const runtimes = await ensureRuntimeImages(o.docker, { bases: { ...baseImagesFromEnv(process.env), bookworm: o.base }, log: o.log });
  const pinned = (runtime: string) => runtimes.find((r) => r.runtime === runtime)!.pinned;
  return {
    WEFT_NATS_IMAGE: await buildBinaryImage(o, "nats", o.natsServerBin, "nats-server"),
    WEFT_FERRETDB_IMAGE: await buildBinaryImage(o, "ferretdb", o.ferretdbBin, "ferretdb"),
    WEFT_FABRIC_IMAGE: await buildFabricImage(o),
    WEFT_IMAGE_PYTHON3_11: pinned("python3.11"),
    WEFT_IMAGE_PYTHON3_13: pinned("python3.13"),
    WEFT_IMAGE_NODEJS18: pinned("nodejs18"),
    WEFT_IMAGE_NODEJS20: pinned("nodejs20"),
    WEFT_IMAGE_RUST: pinned("rust"),
  };
}
