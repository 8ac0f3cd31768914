// Unpacks a built layer's tar stream into a fresh folder. The stream comes from a builder that ran the user's
// install scripts (setup.py, npm lifecycle scripts, build.rs), so it is hostile: a script left running can write
// its own tar onto the builder's stdout. Only what a layer needs is written: regular files, directories, and links
// (symbolic or hard) that stay inside the layer. A device, a FIFO or a socket member, a name that is absolute or
// climbs out, or a link that leaves the layer fails the build with the member named; nothing takes an owner or a
// mode from the stream (files 0644, or 0755 when any execute bit is set; folders 0755). Links are made after every
// file, so no member is ever written through a link the stream made first. The stream is read with backpressure.
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { copyFile, link as hardLink, lstat, mkdir, symlink } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { extract as tarExtract, type Extract, type Header } from "tar-stream";

/** What tar-stream hands over for one member's bytes (a streamx Readable). */
interface Source extends AsyncIterable<unknown> {
  resume(): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
}

/** A member the layer cannot hold: the build fails with this message. */
export class LayerRefused extends Error {}

interface PendingLink {
  name: string;
  target: string;
  kind: "symlink" | "hardlink";
}

export interface LayerUnpack {
  /** Write the tar stream here (a Writable with backpressure: respect write()'s return and "drain"). */
  input: Extract;
  /** Resolves with the members written once the stream ended; rejects with LayerRefused or an I/O error. */
  done: Promise<number>;
}

/** Longest member name accepted (Linux PATH_MAX). */
const MAX_NAME = 4096;

export function unpackLayer(out: string): LayerUnpack {
  const input = tarExtract();
  const links: PendingLink[] = [];
  let members = 0;
  input.on("entry", (header: Header, stream: Source, next: (err?: Error) => void) => {
    // A stream cut short errors this member too, maybe while no read of it is under way: the error is the
    // extract's, and reaches `done` from there.
    stream.on("error", () => undefined);
    writeMember(out, header, stream, links).then(
      () => { members++; next(); },
      (err: unknown) => { stream.resume(); next(err as Error); },
    );
  });
  const done = new Promise<number>((resolve, reject) => {
    input.on("error", reject);
    input.on("finish", () => void makeLinks(out, links).then(() => resolve(members), reject));
  });
  done.catch(() => undefined); // the caller may stop listening once the build failed for another reason
  return { input, done };
}

async function writeMember(out: string, header: Header, stream: Source, links: PendingLink[]): Promise<void> {
  const name = memberName(header.name);
  if (name === undefined) { stream.resume(); return; } // "." itself
  switch (header.type) {
    case "directory":
      await mkdir(join(out, name), { recursive: true, mode: 0o755 });
      stream.resume();
      return;
    case "file":
    case "contiguous-file": {
      const path = join(out, name);
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      // "wx": a member is written once, never over something already there (a second copy, or a folder).
      await writeFileFrom(stream, path, (header.mode ?? 0) & 0o111 ? 0o755 : 0o644);
      return;
    }
    case "symlink":
      links.push({ name, target: header.linkname ?? "", kind: "symlink" });
      stream.resume();
      return;
    case "link": {
      const target = memberName(header.linkname);
      if (target === undefined) throw new LayerRefused(`the layer's hard link ${name} names the layer itself`);
      links.push({ name, target, kind: "hardlink" });
      stream.resume();
      return;
    }
    default:
      throw new LayerRefused(`the layer holds ${name}, a ${header.type ?? "member of unknown type"}: only files, folders and links are allowed`);
  }
}

/** The member's path inside the layer ("a/b"), undefined for the layer's root; refuses a way out. */
export function memberName(raw: string): string | undefined {
  if (raw.length > MAX_NAME || raw.includes("\0")) throw new LayerRefused(`the layer holds a member name that is not a path (${JSON.stringify(raw.slice(0, 80))})`);
  if (raw.startsWith("/")) throw new LayerRefused(`the layer holds an absolute path: ${raw}`);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw new LayerRefused(`the layer holds a path that climbs out of it: ${raw}`);
  return parts.length === 0 ? undefined : parts.join("/");
}

/**
 * A symbolic link's target as written, once it is known to stay inside the layer: relative, and its path from the
 * layer's root (the link's folder, then the target) never climbs above the root nor passes through another link of
 * the layer (`b -> .` then `c -> b/..` would climb out once b is followed, though `b/..` looks like the root).
 */
export function symlinkTarget(name: string, target: string, links: ReadonlySet<string>): string {
  if (target.length === 0 || target.length > MAX_NAME || target.includes("\0")) throw new LayerRefused(`the layer's link ${name} has no usable target`);
  if (target.startsWith("/")) throw new LayerRefused(`the layer's link ${name} points outside it (to ${target})`);
  const steps = [...posix.dirname(name).split("/"), ...target.split("/")].filter((p) => p !== "" && p !== ".");
  const at: string[] = [];
  steps.forEach((step, i) => {
    if (step === "..") {
      if (at.length === 0) throw new LayerRefused(`the layer's link ${name} points outside it (to ${target})`);
      at.pop();
      return;
    }
    at.push(step);
    if (i < steps.length - 1 && links.has(at.join("/"))) throw new LayerRefused(`the layer's link ${name} goes through another link (${at.join("/")})`);
  });
  return target;
}

/**
 * Made last, after every file: a hard link becomes a link to (or, across devices, a copy of) a regular file the
 * stream wrote; a symbolic link is made only where nothing was written, so no member went through it.
 */
async function makeLinks(out: string, links: PendingLink[]): Promise<void> {
  for (const l of links.filter((x) => x.kind === "hardlink")) {
    const target = join(out, l.target);
    const st = await lstat(target).catch(() => undefined);
    if (!st?.isFile()) throw new LayerRefused(`the layer's hard link ${l.name} names ${l.target}, which is not a file of the layer`);
    const path = join(out, l.name);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await hardLink(target, path).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "EXDEV") throw err;
      await copyFile(target, path);
    });
  }
  const symlinks = links.filter((x) => x.kind === "symlink");
  const names = new Set(symlinks.map((l) => l.name));
  for (const l of symlinks) {
    const target = symlinkTarget(l.name, l.target, names);
    const path = join(out, l.name);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await symlink(target, path).catch((err: NodeJS.ErrnoException) => {
      throw err.code === "EEXIST" ? new LayerRefused(`the layer's link ${l.name} would replace a file or folder of the same name`) : err;
    });
  }
}

/** Streams one member into a new file ("wx": written once, never over something already there). */
async function writeFileFrom(stream: Source, path: string, mode: number): Promise<void> {
  const file = createWriteStream(path, { flags: "wx", mode });
  const failed = new Promise<never>((_, reject) => file.once("error", reject));
  failed.catch(() => undefined);
  try {
    await Promise.race([once(file, "open"), failed]);
    for await (const chunk of stream) {
      if (!file.write(chunk as Buffer)) await Promise.race([once(file, "drain"), failed]);
    }
    file.end();
    await Promise.race([once(file, "finish"), failed]);
  } finally {
    if (!file.writableFinished) file.destroy();
  }
}
