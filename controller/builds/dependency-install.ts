// Installs one dependency set in a builder container: the only container of Weft with a network, and only for
// the build. It runs as uid 65534 with no capabilities, a read-only root, a memory, CPU, process and time limit,
// and builds into a tmpfs of a bounded size (the disk limit). Its stdout is the built layer as a tar stream
// (bounded again here), its stderr the build log; the layer is unpacked into a staging folder the caller renames
// into place only when everything succeeded.
import type Dockerode from "dockerode";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Writable, type Readable } from "node:stream";
import type { Language } from "../../shared/bundle.js";
import { CARGO_CACHE_IN_BUILDER, RUST_SCRIPT, cargoEnv } from "./rust-build.js";
import { unpackLayer } from "./layer-unpack.js";

export interface InstallOptions {
  network: string;
  memoryMb: number;
  cpus: number;
  diskMb: number;
  timeoutMs: number;
  /** CA bundle mounted into the builder (a TLS-inspecting proxy's CA, say); empty: the image's own. */
  caFile: string;
  pipIndexUrl: string;
  pipExtraIndexUrl: string;
  npmRegistry: string;
  /** A crates.io mirror (a source replacement: `sparse+https://…/index/`); empty: crates.io. */
  cargoRegistry: string;
  httpProxy: string;
  httpsProxy: string;
  noProxy: string;
}

export type InstallOutcome = { ok: true; bytes: number } | { ok: false; reason: string };

const CA_IN_BUILDER = "/etc/weft/ca.crt";
/** The unprivileged user every builder runs as. */
const BUILDER_UID = 65534;
const LOG_KEEP_BYTES = 256 * 1024;

/** What runs in the builder. Output of the tools goes to stderr (the log); stdout carries only the tar stream. */
const SCRIPTS: Record<Language, string> = {
  python: [
    "set -e",
    "cd /build && mkdir -p /build/tmp /build/home /build/out/python",
    "python3 -m pip --version >&2",
    "python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input --no-warn-script-location --target /build/out/python -r /src/requirements.txt >&2",
    "tar -C /build/out -cf - .",
  ].join("\n"),
  node: [
    "set -e",
    "cd /build && mkdir -p /build/tmp /build/home /build/work",
    "cp /src/* /build/work/",
    "cd /build/work",
    "echo \"npm $(npm --version), node $(node --version)\" >&2",
    "npm ci --omit=dev --no-audit --no-fund --no-update-notifier >&2",
    "mkdir -p node_modules",
    // The layer is node_modules' content: it is mounted as <task root>/node_modules.
    "tar -C /build/work/node_modules -cf - .",
  ].join("\n"),
  rust: RUST_SCRIPT,
};

/** A log kept to its last LOG_KEEP_BYTES, the part that says why a build failed. */
export class BuildLog {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private dropped = 0;

  line(text: string): void {
    this.add(Buffer.from(`${text}\n`));
  }

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes > LOG_KEEP_BYTES && this.chunks.length > 1) {
      const first = this.chunks.shift()!;
      this.bytes -= first.length;
      this.dropped += first.length;
    }
  }

  text(): string {
    const body = Buffer.concat(this.chunks).toString("utf8");
    return this.dropped ? `[... ${this.dropped} earlier bytes of the log dropped]\n${body}` : body;
  }

  tail(maxBytes: number): string {
    const buf = Buffer.from(this.text());
    return buf.subarray(Math.max(0, buf.length - maxBytes)).toString("utf8").replace(/^\uFFFD+/, "");
  }
}

export async function installDependencies(
  docker: Dockerode,
  image: string,
  language: Language,
  deps: Map<string, Buffer>,
  staged: string,
  opts: InstallOptions,
  log: BuildLog,
  /** rust: the host folder of the cargo cache this build uses (registry and target, kept between builds). */
  cargoCache?: string,
): Promise<InstallOutcome> {
  const src = join(staged, ".src");
  await mkdir(src, { mode: 0o755 });
  for (const [name, bytes] of deps) {
    await mkdir(dirname(join(src, name)), { recursive: true, mode: 0o755 });
    await writeFile(join(src, name), bytes, { mode: 0o644 });
  }
  if (cargoCache) await prepareCargoCache(cargoCache);
  const out = join(staged, "layer");
  await mkdir(out, { mode: 0o755 });
  const container = await docker.createContainer(createOptions(image, language, src, opts, cargoCache));
  try {
    return await runToLayer(container, out, opts, log);
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/**
 * The builder runs as uid 65534: a root controller gives it the cache (mode 0700, no one else's to rewrite); one
 * that is not root cannot, so the folder is left open (0777) for the builder to write.
 */
async function prepareCargoCache(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  if (process.getuid?.() === 0) {
    await chown(dir, BUILDER_UID, BUILDER_UID);
    await chmod(dir, 0o700);
  } else {
    await chmod(dir, 0o777);
  }
}

function createOptions(image: string, language: Language, src: string, opts: InstallOptions, cargoCache?: string): Dockerode.ContainerCreateOptions {
  const memory = opts.memoryMb * 1024 * 1024;
  const ca = opts.caFile && existsSync(opts.caFile) ? opts.caFile : "";
  const env = [
    "HOME=/build/home",
    "TMPDIR=/build/tmp",
    "PIP_ROOT_USER_ACTION=ignore",
    "npm_config_cache=/build/home/.npm",
    "npm_config_update_notifier=false",
    ...(ca ? [`PIP_CERT=${CA_IN_BUILDER}`, `NODE_EXTRA_CA_CERTS=${CA_IN_BUILDER}`, `npm_config_cafile=${CA_IN_BUILDER}`, `SSL_CERT_FILE=${CA_IN_BUILDER}`] : []),
    ...(opts.pipIndexUrl ? [`PIP_INDEX_URL=${opts.pipIndexUrl}`] : []),
    ...(opts.pipExtraIndexUrl ? [`PIP_EXTRA_INDEX_URL=${opts.pipExtraIndexUrl}`] : []),
    ...(opts.npmRegistry ? [`npm_config_registry=${opts.npmRegistry}`] : []),
    ...(language === "rust" ? cargoEnv({ caInBuilder: ca ? CA_IN_BUILDER : "", registry: opts.cargoRegistry, cpus: opts.cpus }) : []),
    ...(opts.httpProxy ? [`HTTP_PROXY=${opts.httpProxy}`, `http_proxy=${opts.httpProxy}`] : []),
    ...(opts.httpsProxy ? [`HTTPS_PROXY=${opts.httpsProxy}`, `https_proxy=${opts.httpsProxy}`] : []),
    ...(opts.noProxy ? [`NO_PROXY=${opts.noProxy}`, `no_proxy=${opts.noProxy}`] : []),
  ];
  return {
    name: `weft-build-${randomBytes(5).toString("hex")}`,
    Image: image,
    User: `${BUILDER_UID}:${BUILDER_UID}`,
    // No WorkingDir: Docker would make /build before the tmpfs is mounted and the tmpfs would lose its mode 1777.
    Env: env,
    Cmd: ["sh", "-c", SCRIPTS[language]],
    Labels: { "weft.managed": "true", "weft.build": "true" },
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      NetworkMode: opts.network,
      ReadonlyRootfs: true,
      Tmpfs: { "/build": `rw,exec,nosuid,nodev,size=${opts.diskMb}m,mode=1777` },
      Binds: [`${src}:/src:ro`, ...(ca ? [`${ca}:${CA_IN_BUILDER}:ro`] : []), ...(cargoCache ? [`${cargoCache}:${CARGO_CACHE_IN_BUILDER}:rw`] : [])],
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Memory: memory,
      MemorySwap: memory,
      NanoCpus: Math.round(opts.cpus * 1e9),
      PidsLimit: 1024,
      Ulimits: [{ Name: "core", Soft: 0, Hard: 0 }],
      Init: true,
      LogConfig: { Type: "none", Config: {} },
    },
  };
}

/**
 * Runs the container, unpacking its stdout (a tar stream, hostile: layer-unpack.ts) into `out`; the timeout and the
 * size bound kill it. The attach stream is paused while the unpacker is behind, so a fast stream is not buffered.
 */
async function runToLayer(container: Dockerode.Container, out: string, opts: InstallOptions, log: BuildLog): Promise<InstallOutcome> {
  const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
  const limit = opts.diskMb * 1024 * 1024;
  let bytes = 0;
  let overLimit = false;
  const unpack = unpackLayer(out);
  let refused: unknown;
  unpack.done.catch((err: unknown) => {
    refused = err;
    void container.kill().catch(() => {});
  });
  const stdout = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      bytes += chunk.length;
      if (bytes > limit && !overLimit) {
        overLimit = true;
        void container.kill().catch(() => {});
      }
      if (overLimit || refused !== undefined) return done();
      if (unpack.input.write(chunk)) return done();
      stream.pause();
      unpack.input.once("drain", () => { stream.resume(); });
      done();
    },
  });
  const stderr = new Writable({ write: (chunk: Buffer, _enc, done) => { log.add(chunk); done(); } });
  container.modem.demuxStream(stream, stdout, stderr);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void container.kill().catch(() => {});
  }, opts.timeoutMs);
  try {
    await container.start();
    const exit = (await container.wait()) as { StatusCode: number };
    await new Promise<void>((resolve) => (stream.readableEnded || stream.destroyed ? resolve() : stream.once("end", resolve).once("close", resolve)));
    if (timedOut) return { ok: false, reason: `the build took longer than ${opts.timeoutMs} ms (WEFT_BUILD_TIMEOUT_MS) and was stopped` };
    if (overLimit) return { ok: false, reason: `the layer is over ${opts.diskMb} MB (WEFT_BUILD_DISK_MB)` };
    const info = await container.inspect().catch(() => undefined);
    if (info?.State?.OOMKilled) return { ok: false, reason: `the build ran out of memory (${opts.memoryMb} MB, WEFT_BUILD_MEMORY_MB)` };
    if (refused === undefined && exit.StatusCode !== 0) return { ok: false, reason: `the install exited with code ${exit.StatusCode}` };
    if (refused === undefined) unpack.input.end(undefined);
    try {
      await unpack.done;
    } catch (err) {
      return { ok: false, reason: `the layer could not be unpacked: ${(err as Error).message}`.slice(0, 600) };
    }
    return { ok: true, bytes };
  } finally {
    clearTimeout(timer);
    if (!unpack.input.destroyed) unpack.input.destroy(new Error("the build is over"));
  }
}
