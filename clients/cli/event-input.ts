// The event of `weft invoke` and the code of `weft exec`: --data JSON, --data @file, a file argument, or stdin.
import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { UsageError } from "./usage-error.js";

/** The event's JSON text, checked to be JSON here so a typo is a usage error, not a round trip. */
export async function eventText(data: string | undefined, stdin: Readable & { isTTY?: boolean }): Promise<string> {
  let text: string;
  if (data === undefined) text = stdin.isTTY ? "" : await readAll(stdin);
  else if (data.startsWith("@")) text = await readFileOr(data.slice(1), "--data");
  else text = data;
  if (text.trim() === "") return "";
  try {
    JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--data: not JSON (${(err as Error).message})`);
  }
  return text;
}

export async function readFileOr(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new UsageError(`${option}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}
