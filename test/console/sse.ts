// A Server-Sent Events reader for tests: opens the stream with fetch and yields each event as it arrives.
export interface SseEvent {
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  contentType: string | null;
  /** Resolves with the first event `pick` accepts; rejects after `timeoutMs`. */
  next(pick: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Every event received so far. */
  readonly seen: SseEvent[];
  close(): void;
}

export async function openSse(url: string): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { signal: abort.signal, headers: { accept: "text/event-stream" } });
  const seen: SseEvent[] = [];
  const waiters = new Set<() => void>();
  let ended: Error | undefined;
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseBlock(block);
          if (event) seen.push(event);
        }
        for (const w of waiters) w();
      }
      ended = new Error("the stream ended");
    } catch (err) {
      ended = err as Error;
    }
    for (const w of waiters) w();
  })();
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    seen,
    close: () => abort.abort(),
    next: (pick, timeoutMs = 5000) =>
      new Promise<SseEvent>((resolve, reject) => {
        const check = () => {
          const found = seen.find(pick);
          if (found) done(() => resolve(found));
          else if (ended) done(() => reject(ended));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no matching event within ${timeoutMs} ms; seen ${JSON.stringify(seen)}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      }),
  };
}

function parseBlock(block: string): SseEvent | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { event, data: data.join("\n") } : undefined;
}
