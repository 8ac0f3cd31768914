// Builds a bundle's version once: its files into code/<sha>, its dependencies into layers/<id> (shared by every
// version with the same dependency files, and by builds running at the same time), then records the outcome
// (ready or failed, with the log) through the caller. PUT never waits for this.
import type Dockerode from "dockerode";
import { join } from "node:path";
import { BuildDir } from "./build-dir.js";
import { BuilderImages } from "./builder-image.js";
import { BuildLog, installDependencies, type InstallOptions } from "./dependency-install.js";
import { cargoCacheKey, rustBuildInputs } from "./rust-build.js";
import { dependencyFilesOf, entryPath, layerRuntimeOf, filesSha256, languageOf, layerIdOf, versionFiles } from "../../shared/bundle.js";
import type { Logger } from "../../shared/logger.js";
import { DEFAULT_HANDLER, type Build, type FunctionDefinition } from "../../shared/schemas/function.js";
import { Semaphore } from "../../shared/semaphore.js";
import { TS_BUNDLE_SALT, bundleTypeScript, describeTranspileError } from "../../shared/typescript.js";

/** How much of a failed build's log its invocations and its `build.error` carry. */
export const BUILD_ERROR_TAIL_BYTES = 2048;

/**
 * Dependency installs running at once. Each builder may take WEFT_BUILD_MEMORY_MB, a CPU and its disk; a burst of
 * PUTs with new dependency files, or a restarted controller resuming every unfinished build, queues here instead
 * of starting them all (the versions stay `building` meanwhile, and their calls answer BUILD_PENDING).
 */
export const MAX_CONCURRENT_INSTALLS = 2;

export interface BuildsDeps {
  docker: Dockerode;
  dir: string;
  /** Runtime → the image its functions run in (the builder image is made from it). */
  runtimeImages: Record<string, string>;
  install: InstallOptions;
  /** Stores a build's outcome and its log (MongoDB, then the bucket). */
  record(def: FunctionDefinition, build: Build, log: string): Promise<void>;
  log: Logger;
}

type LayerResult = { ok: true; bytes: number; cached: boolean; log: string } | { ok: false; reason: string; log: string };

export class Builds {
  private readonly dir: BuildDir;
  private readonly images: BuilderImages;
  /** Layers being built now, by id: a second version with the same dependencies waits for the first. */
  private readonly layers = new Map<string, Promise<LayerResult>>();
  private readonly running = new Set<Promise<void>>();
  private readonly installs = new Semaphore(MAX_CONCURRENT_INSTALLS);

  constructor(private readonly deps: BuildsDeps) {
    this.dir = new BuildDir(deps.dir);
    this.images = new BuilderImages(deps.docker);
  }

  /** The build a new version starts with (its content addresses are known before anything is built). */
  static initial(def: Pick<FunctionDefinition, "runtime" | "files">): Build | undefined {
    if (!def.files) return undefined;
    const files = versionFiles(def);
    const deps = buildInputsOf(def.runtime, files);
    return {
      status: "building",
      bundleSha256: filesSha256(files, def.runtime === "typescript" ? TS_BUNDLE_SALT : ""),
      ...(deps.size ? { layer: layerIdOf(def.runtime, deps) } : {}),
      startedAt: new Date().toISOString(),
    };
  }

  /** Starts a version's build in the background. */
  start(def: FunctionDefinition): void {
    const p = this.build(def)
      .catch((err: unknown) => this.deps.log.error({ err, fn: def.name, version: def.version }, "build bookkeeping failed"))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** Waits for the builds in progress (a stop; each is bounded by WEFT_BUILD_TIMEOUT_MS). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  private async build(def: FunctionDefinition): Promise<void> {
    const started = def.build ? Date.parse(def.build.startedAt) : Date.now();
    const build = def.build ?? Builds.initial(def);
    if (!build) return;
    const log = new BuildLog();
    const t0 = performance.now();
    let outcome: Build;
    try {
      const files = versionFiles(def);
      const deps = buildInputsOf(def.runtime, files);
      const language = languageOf(def.runtime);
      if (def.runtime === "typescript") await this.compile(def, files, log);
      // A node layer is mounted at <task root>/node_modules, so ES modules resolve it too: the folder is its mount point.
      await this.dir.writeCode(build.bundleSha256, files, build.layer && language === "node" ? ["node_modules"] : []);
      log.line(`weft: ${files.size} files laid out as ${build.bundleSha256.slice(0, 16)}`);
      const layer = build.layer ? await this.layer(build.layer, def.runtime, deps, def.name) : undefined;
      if (layer) log.add(Buffer.from(layer.log));
      const done = { finishedAt: new Date().toISOString(), durationMs: Math.round(performance.now() - t0) };
      if (layer && !layer.ok) {
        log.line(`weft: build failed: ${layer.reason}`);
        outcome = { ...build, ...done, status: "failed", error: log.tail(BUILD_ERROR_TAIL_BYTES) };
      } else {
        outcome = { ...build, ...done, status: "ready", ...(layer ? { cached: layer.cached, layerBytes: layer.bytes } : {}) };
        log.line(`weft: build ready in ${done.durationMs} ms`);
      }
    } catch (err) {
      log.line(`weft: build failed: ${(err as Error).message}`);
      outcome = { ...build, status: "failed", finishedAt: new Date().toISOString(), durationMs: Math.round(performance.now() - t0), error: log.tail(BUILD_ERROR_TAIL_BYTES) };
    }
    this.deps.log.info(
      { fn: def.name, version: def.version, status: outcome.status, layer: outcome.layer, cached: outcome.cached, ms: outcome.durationMs, sinceStartMs: Date.now() - started },
      "build finished",
    );
    await this.deps.record(def, outcome, log.text());
  }

  /**
   * Adds what esbuild makes of a TypeScript bundle to its files. PUT compiled it already (and refused what does not
   * parse); it is compiled again here rather than stored twice in the definition, and the same esbuild makes the same bytes.
   */
  private async compile(def: FunctionDefinition, files: Map<string, Buffer>, log: BuildLog): Promise<void> {
    const entry = entryPath(def.runtime, def.handler ?? DEFAULT_HANDLER, (p) => files.has(p));
    const t0 = performance.now();
    const out = await bundleTypeScript(files, entry);
    if (!out.ok) throw new Error(`does not compile: ${describeTranspileError(out)}`);
    for (const warning of out.warnings) log.line(`esbuild: warning: ${warning}`);
    for (const [path, bytes] of out.files) files.set(path, bytes);
    log.line(`weft: ${entry} and its local modules bundled by esbuild in ${Math.round(performance.now() - t0)} ms`);
  }

  /** The layer for a dependency set: already there, being built by another version, or built now. */
  private layer(id: string, runtime: string, deps: Map<string, Buffer>, functionName: string): Promise<LayerResult> {
    const final = this.dir.layerPath(id);
    if (this.dir.has(final)) {
      return this.dir.sizeOf(final).then((bytes) => ({ ok: true, bytes, cached: true, log: `weft: layer ${id} already built; shared\n` }));
    }
    let pending = this.layers.get(id);
    if (!pending) {
      pending = this.buildLayer(id, runtime, deps, final, functionName).finally(() => this.layers.delete(id));
      this.layers.set(id, pending);
    }
    return pending;
  }

  private async buildLayer(id: string, runtime: string, deps: Map<string, Buffer>, final: string, functionName: string): Promise<LayerResult> {
    const log = new BuildLog();
    const language = languageOf(runtime);
    const runtimeImage = this.deps.runtimeImages[layerRuntimeOf(runtime)];
    if (!runtimeImage) return { ok: false, reason: `no runtime image is known for ${runtime}`, log: "" };
    const staged = await this.dir.stage();
    try {
      log.line(`weft: installing ${[...deps.keys()].join(", ")} into layer ${id}`);
      // The image's own build output goes to the controller's log: the build log is about the function's dependencies.
      const image = await this.images.ensure(runtimeImage, language, (line) => this.deps.log.debug({ layer: id }, line));
      log.line(`weft: builder image ${image}`);
      if (this.installs.full) log.line(`weft: waiting for one of ${MAX_CONCURRENT_INSTALLS} builders`);
      const cargoCache = language === "rust" ? join(this.dir.root, "cargo", cargoCacheKey(functionName, deps)) : undefined;
      if (cargoCache) log.line(`weft: cargo cache ${cargoCache.slice(cargoCache.lastIndexOf("/") + 1)} (this function, this Cargo.lock)`);
      const result = await this.installs.run(() => installDependencies(this.deps.docker, image, language, deps, staged, this.deps.install, log, cargoCache));
      if (!result.ok) return { ok: false, reason: result.reason, log: log.text() };
      await this.dir.commit(`${staged}/layer`, final);
      const bytes = await this.dir.sizeOf(final);
      log.line(`weft: layer ${id}: ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
      return { ok: true, bytes, cached: false, log: log.text() };
    } catch (err) {
      return { ok: false, reason: (err as Error).message, log: log.text() };
    } finally {
      await this.dir.discard(staged);
    }
  }
}

/** What a version's layer is built from: its dependency files, or for rust its whole package and Weft's wrapper. */
function buildInputsOf(runtime: string, files: Map<string, Buffer>): Map<string, Buffer> {
  return languageOf(runtime) === "rust" ? rustBuildInputs(files) : dependencyFilesOf(runtime, files);
}
