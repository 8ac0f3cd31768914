// The builder images: a runtime image plus its package manager (pip, npm), so dependencies are installed by the
// very interpreter that will import them (native wheels match); for rust, the runtime image plus Debian's rustc
// and cargo, so the binary links against the glibc it runs on. Made on the first build that needs one, never at
// start: a fresh machine builds nothing until a function asks for it. As a script, it makes one ahead of time:
//   npm run builder -- rust        (or python3.13, nodejs20, ...: the runtime whose builder to make)
import Dockerode from "dockerode";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { languageOf, type Language } from "../../shared/bundle.js";
import { baseImagesFromEnv, ensureRuntimeImages, RUNTIME_IMAGES } from "../../deploy/images.js";
import { createLogger } from "../../shared/logger.js";
import { IMAGE_RUNTIMES, type ImageRuntime } from "../../shared/runtimes.js";

/** Debian's packages of the tools, from the mirror the runtime image's base already names. */
const TOOLS: Record<Language, string> = {
  python: "python3-pip",
  node: "npm",
  // Debian 13's rustc and cargo; cc links (rustc's default linker for the glibc target, which the runtime runs).
  rust: "rustc cargo gcc libc6-dev",
};

const dockerfile = (base: string, language: Language): string =>
  [
    `FROM ${base}`,
    "USER 0:0",
    `RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${TOOLS[language]} ca-certificates tar \\`,
    "    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb",
    "",
  ].join("\n");

export class BuilderImages {
  private readonly making = new Map<string, Promise<string>>();

  constructor(private readonly docker: Dockerode) {}

  /** The builder image for a runtime image (made once per runtime image id; concurrent callers share the build). */
  async ensure(runtimeImage: string, language: Language, log: (line: string) => void): Promise<string> {
    const info = await this.docker.getImage(runtimeImage).inspect();
    const text = dockerfile(runtimeImage, language);
    const tag = `weft/builder-${language}:${createHash("sha256").update(info.Id).update(text).digest("hex").slice(0, 16)}`;
    let pending = this.making.get(tag);
    if (!pending) {
      pending = this.makeIfMissing(tag, text, log).finally(() => this.making.delete(tag));
      this.making.set(tag, pending);
    }
    return pending;
  }

  private async makeIfMissing(tag: string, text: string, log: (line: string) => void): Promise<string> {
    try {
      await this.docker.getImage(tag).inspect();
      return tag;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    log(`making the builder image ${tag} (once per runtime image)`);
    const dir = await mkdtemp(join(tmpdir(), "weft-builder-"));
    try {
      await writeFile(join(dir, "Dockerfile"), text);
      const stream = await this.docker.buildImage({ context: dir, src: ["Dockerfile"] }, { t: tag, rm: true, forcerm: true, version: "1" });
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(
          stream,
          (err: Error | null, events: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
            const failed = events?.find((e) => e.error);
            if (err) reject(err);
            else if (failed) reject(new Error(`making ${tag}: ${failed.errorDetail?.message ?? failed.error}`));
            else resolve();
          },
          (event: { stream?: string }) => {
            if (event.stream?.trim()) log(event.stream.trimEnd());
          },
        );
      });
      return tag;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/** The script: the runtime image (built if missing or stale), then its builder. */
async function main(): Promise<void> {
  const runtime = process.argv[2] as ImageRuntime;
  if (!(IMAGE_RUNTIMES as readonly string[]).includes(runtime)) throw new Error(`usage: builder-image.ts RUNTIME (one of ${IMAGE_RUNTIMES.join(", ")})`);
  const log = createLogger("builder", process.env.WEFT_LOG_LEVEL ?? "warn");
  const docker = new Dockerode({ socketPath: process.env.WEFT_DOCKER_SOCKET ?? "/var/run/docker.sock" });
  await ensureRuntimeImages(docker, { bases: baseImagesFromEnv(process.env), log, only: [runtime] });
  const started = Date.now();
  const tag = await new BuilderImages(docker).ensure(RUNTIME_IMAGES[runtime], languageOf(runtime), (line) => console.error(line));
  console.log(`${tag}: ready (${Date.now() - started} ms)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(`builder-image.ts: ${err.message}`);
    process.exit(1);
  });
}
