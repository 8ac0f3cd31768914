// The web console's built files (clients/console/dist), served by the HTTP API for the paths no API route
// takes: a file when there is one, index.html for the console's own pages (/functions/hello), 404 otherwise.
// Hashed files under /assets/ are cached for a year; everything else is revalidated (ETag) on each load.
// Each file is sent compressed: the build's brotli/gzip copy when there is one, else compressed once here; either
// is kept in memory, and a rebuild is noticed by the file's size and mtime.
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, isAbsolute, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliCompress, constants as zlib, gzip } from "node:zlib";
import { WeftError } from "../shared/errors.js";
import type { Logger } from "../shared/logger.js";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};
const COMPRESSIBLE = new Set([".html", ".js", ".css", ".json", ".map", ".svg", ".txt", ".webmanifest"]);
/** Below this, compressing saves less than the headers it adds. */
const COMPRESS_MIN_BYTES = 512;

const IMMUTABLE = "public, max-age=31536000, immutable";
const REVALIDATE = "no-cache";
/** The console talks to this origin only: nothing else may be loaded or contacted from its pages. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  // CodeMirror and uPlot set styles at run time.
  "style-src 'self' 'unsafe-inline'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

const compressors = {
  br: (b: Buffer) => promisify(brotliCompress)(b, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: b.length } }),
  gzip: (b: Buffer) => promisify(gzip)(b, { level: 9 }),
} as const;
type Encoding = keyof typeof compressors;

interface Loaded {
  path: string;
  key: string;
  raw: Buffer;
  etag: string;
  encoded: Map<Encoding, Promise<Buffer>>;
}

export class ConsoleAssets {
  readonly dir: string;
  private readonly files = new Map<string, Loaded>();

  constructor(dir: string, private readonly log: Logger) {
    this.dir = isAbsolute(dir) ? dir : resolve(REPO_ROOT, dir);
  }

  /** Serves a GET or HEAD of the console; false for paths that are not the console's (the API's 404 stands). */
  readonly serve = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (path.startsWith("/v1/") || path === "/v1" || path === "/healthz") return false;
    const file = await this.resolveFile(path);
    if (!file) return false;
    const loaded = await this.load(file);
    await this.send(req, res, file, loaded);
    return true;
  };

  /** The file a path names, index.html for a console page, undefined for a missing file. */
  private async resolveFile(path: string): Promise<string | undefined> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return undefined;
    }
    // Dot files (the build's stamp, say) are not the console's to serve.
    if (decoded.includes("\0") || decoded.split("/").some((seg) => seg.startsWith("."))) return undefined;
    const candidate = resolve(this.dir, `.${decoded}`);
    if (candidate !== this.dir && !candidate.startsWith(this.dir + sep)) return undefined;
    if (await isFile(candidate)) return candidate;
    // A path with an extension, or under /assets/, names a file: missing is a 404, not the app.
    if (extname(decoded) !== "" || decoded.startsWith("/assets/")) return undefined;
    const index = resolve(this.dir, "index.html");
    if (!(await isFile(index))) {
      throw new WeftError("NOT_FOUND", `the web console is not built (${this.dir} has no index.html): npm run up builds it, or npm run console:build`);
    }
    return index;
  }

  private async load(file: string): Promise<Loaded> {
    const s = await stat(file);
    const key = `${s.size}-${s.mtimeMs}`;
    const cached = this.files.get(file);
    if (cached?.key === key) return cached;
    const raw = await readFile(file);
    const loaded: Loaded = { path: file, key, raw, etag: `"${createHash("sha256").update(raw).digest("base64url").slice(0, 27)}"`, encoded: new Map() };
    this.files.set(file, loaded);
    return loaded;
  }

  private async send(req: IncomingMessage, res: ServerResponse, file: string, f: Loaded): Promise<void> {
    const ext = extname(file);
    const headers: Record<string, string> = {
      "content-type": CONTENT_TYPES[ext] ?? "application/octet-stream",
      "cache-control": file.includes(`${sep}assets${sep}`) ? IMMUTABLE : REVALIDATE,
      etag: f.etag,
      "x-content-type-options": "nosniff",
    };
    if (ext === ".html") {
      headers["content-security-policy"] = CONTENT_SECURITY_POLICY;
      headers["referrer-policy"] = "no-referrer";
    }
    const compressible = COMPRESSIBLE.has(ext) && f.raw.length >= COMPRESS_MIN_BYTES;
    if (compressible) headers.vary = "accept-encoding";
    if (req.headers["if-none-match"] === f.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const encoding = compressible ? preferredEncoding(req.headers["accept-encoding"]) : undefined;
    const body = encoding ? await this.encoded(f, encoding) : f.raw;
    if (encoding) headers["content-encoding"] = encoding;
    headers["content-length"] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === "HEAD" ? undefined : body);
  }

  private encoded(f: Loaded, encoding: Encoding): Promise<Buffer> {
    let p = f.encoded.get(encoding);
    if (!p) {
      p = precompressedCopy(f, encoding).then((b) => b ?? compressors[encoding](f.raw));
      p.catch((err: unknown) => {
        this.log.warn({ err, encoding }, "compressing a console file failed");
        f.encoded.delete(encoding);
      });
      f.encoded.set(encoding, p);
    }
    return p;
  }
}

const SUFFIX: Record<Encoding, string> = { br: ".br", gzip: ".gz" };

/** The build's compressed copy of the file (clients/console/build.ts writes them), if it is as new as the file. */
async function precompressedCopy(f: Loaded, encoding: Encoding): Promise<Buffer | undefined> {
  const copy = f.path + SUFFIX[encoding];
  try {
    const [s, original] = await Promise.all([stat(copy), stat(f.path)]);
    return s.mtimeMs >= original.mtimeMs ? await readFile(copy) : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "ENAMETOOLONG") return false;
    throw err;
  }
}

/** Brotli when the client takes it, else gzip, else none (q=0 refuses an encoding). */
export function preferredEncoding(header: string | string[] | undefined): Encoding | undefined {
  const accepted = new Map<string, number>();
  for (const part of [header ?? ""].flat().join(",").split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    accepted.set(name, q === undefined ? 1 : Number(q));
  }
  const ok = (e: string) => (accepted.get(e) ?? accepted.get("*") ?? 0) > 0;
  if (ok("br")) return "br";
  if (ok("gzip")) return "gzip";
  return undefined;
}
