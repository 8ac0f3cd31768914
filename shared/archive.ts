// A bundle sent as one archive body (zip or tar.gz), unpacked in memory into path → bytes with every bound checked
// while unpacking: the compressed size (the body's limit), the unpacked size and the file count (LIMITS), and each
// entry's kind: plain files and folders only, so no link can point out of the bundle. Paths go through the same
// check as a `files` map (shared/bundle.ts), after a leading "./" is dropped.
import { gunzipSync, inflateRawSync } from "node:zlib";
import { WeftError, invalid } from "./errors.js";
import { LIMITS } from "./limits.js";
import { pathProblem } from "./bundle.js";

export type ArchiveKind = "zip" | "tar.gz";

const tooLarge = (what: string) => new WeftError("PAYLOAD_TOO_LARGE", `body: the archive's ${what}`, "body");

/** Collects entries and enforces the bundle's bounds as they come. */
class Entries {
  readonly files = new Map<string, Buffer>();
  private bytes = 0;

  add(rawPath: string, data: Buffer): void {
    const path = rawPath.replace(/^(\.\/)+/, "");
    const problem = pathProblem(path);
    if (problem) throw invalid(`body.${rawPath}`, `the path ${problem}`);
    if (this.files.has(path)) throw invalid(`body.${path}`, "appears twice in the archive");
    this.bytes += data.length;
    if (this.bytes > LIMITS.bundleBytes) throw tooLarge(`files are over ${LIMITS.bundleBytes} bytes unpacked`);
    if (this.files.size >= LIMITS.bundleFiles) throw tooLarge(`file count is over ${LIMITS.bundleFiles}`);
    this.files.set(path, data);
  }
}

export function unpackArchive(kind: ArchiveKind, body: Buffer): Map<string, Buffer> {
  if (body.length > LIMITS.archiveBytes) throw tooLarge(`compressed size is over ${LIMITS.archiveBytes} bytes`);
  return kind === "zip" ? unzip(body) : untarGz(body);
}

// ---- tar.gz ----

/** Room for tar's own headers and padding on top of the files' bytes. */
const TAR_OVERHEAD = 1536 * (LIMITS.bundleFiles + 4);

function untarGz(body: Buffer): Map<string, Buffer> {
  let tar: Buffer;
  try {
    tar = gunzipSync(body, { maxOutputLength: LIMITS.bundleBytes + TAR_OVERHEAD });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(`files are over ${LIMITS.bundleBytes} bytes unpacked`);
    throw invalid("body", `is not a gzip stream (${(err as Error).message})`);
  }
  const entries = new Entries();
  let longName: string | undefined;
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break; // the end-of-archive blocks
    const size = octal(header.subarray(124, 136));
    const type = String.fromCharCode(header[156]!) || "0";
    const data = tar.subarray(at + 512, at + 512 + size);
    if (data.length !== size) throw invalid("body", "the tar stream ends inside an entry");
    at += 512 + Math.ceil(size / 512) * 512;
    const name = (longName ?? tarName(header)).replace(/^(\.\/)+/, "");
    longName = undefined;
    switch (type) {
      case "0":
      case "\0":
      case "7":
        entries.add(name, Buffer.from(data));
        break;
      case "5":
        break; // folders (and "./") come from their files' paths
      case "x":
        longName = paxPath(data);
        break;
      case "L":
        longName = data.toString("utf8").replace(/\0+$/, "");
        break;
      case "g":
        break;
      case "1":
      case "2":
        throw invalid(`body.${name}`, "is a link; a bundle holds plain files only");
      default:
        throw invalid(`body.${name}`, `is a special file (tar type ${JSON.stringify(type)}); a bundle holds plain files only`);
    }
  }
  return entries.files;
}

function octal(field: Buffer): number {
  const text = field.toString("ascii").replace(/\0.*$/s, "").trim();
  if (!/^[0-7]*$/.test(text)) throw invalid("body", "is not a tar archive (bad size field)");
  return text ? parseInt(text, 8) : 0;
}

function tarName(header: Buffer): string {
  const cut = (b: Buffer) => b.toString("utf8").replace(/\0.*$/s, "");
  const name = cut(header.subarray(0, 100));
  const isUstar = header.subarray(257, 262).toString("ascii") === "ustar";
  const prefix = isUstar ? cut(header.subarray(345, 500)) : "";
  return prefix ? `${prefix}/${name}` : name;
}

/** The `path` record of a pax extended header ("<len> path=<value>\n" records). */
function paxPath(data: Buffer): string | undefined {
  for (const record of data.toString("utf8").split("\n")) {
    const m = /^\d+ path=(.*)$/s.exec(record);
    if (m) return m[1];
  }
  return undefined;
}

// ---- zip ----

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

function unzip(body: Buffer): Map<string, Buffer> {
  const end = findEndOfCentralDirectory(body);
  const count = body.readUInt16LE(end + 10);
  let at = body.readUInt32LE(end + 16);
  const entries = new Entries();
  for (let i = 0; i < count; i++) {
    if (at + 46 > body.length || body.readUInt32LE(at) !== CENTRAL) throw invalid("body", "the zip's central directory is damaged");
    const method = body.readUInt16LE(at + 10);
    const compressed = body.readUInt32LE(at + 20);
    const size = body.readUInt32LE(at + 24);
    const nameLen = body.readUInt16LE(at + 28);
    const extraLen = body.readUInt16LE(at + 30);
    const commentLen = body.readUInt16LE(at + 32);
    const madeBy = body.readUInt16LE(at + 4) >> 8;
    const mode = madeBy === 3 ? body.readUInt32LE(at + 38) >>> 16 : 0; // 3: Unix, whose mode is in the high half
    const local = body.readUInt32LE(at + 42);
    const name = body.subarray(at + 46, at + 46 + nameLen).toString("utf8");
    at += 46 + nameLen + extraLen + commentLen;
    const kind = mode & S_IFMT;
    if (name.endsWith("/") || kind === S_IFDIR) continue;
    if (kind !== 0 && kind !== S_IFREG) throw invalid(`body.${name}`, "is a link or a special file; a bundle holds plain files only");
    if (size > LIMITS.bundleBytes) throw tooLarge(`files are over ${LIMITS.bundleBytes} bytes unpacked`);
    entries.add(name, zipData(body, local, method, compressed, size, name));
  }
  return entries.files;
}

function findEndOfCentralDirectory(body: Buffer): number {
  // The record is 22 bytes plus a comment of at most 65,535.
  for (let at = body.length - 22; at >= Math.max(0, body.length - 22 - 65_535); at--) {
    if (body.readUInt32LE(at) === EOCD) return at;
  }
  throw invalid("body", "is not a zip archive (no end of central directory)");
}

function zipData(body: Buffer, local: number, method: number, compressed: number, size: number, name: string): Buffer {
  if (local + 30 > body.length || body.readUInt32LE(local) !== LOCAL) throw invalid(`body.${name}`, "the zip entry's header is damaged");
  const start = local + 30 + body.readUInt16LE(local + 26) + body.readUInt16LE(local + 28);
  const raw = body.subarray(start, start + compressed);
  if (raw.length !== compressed) throw invalid(`body.${name}`, "the zip entry ends past the archive");
  if (method === 0) return Buffer.from(raw);
  if (method !== 8) throw invalid(`body.${name}`, `uses zip compression method ${method}; only stored and deflate are read`);
  try {
    const out = inflateRawSync(raw, { maxOutputLength: Math.max(size, 1) });
    if (out.length !== size) throw new Error("its size does not match the directory");
    return out;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(`entry ${name} inflates past its declared size`);
    throw invalid(`body.${name}`, `could not be inflated (${(err as Error).message})`);
  }
}
