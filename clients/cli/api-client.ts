// The public HTTP API as the CLI calls it: JSON in and out, errors as {"error": {code, message, field?}}.
// The CLI talks to nothing else (no NATS, no controller): it is a client like any other.

/** An error the API answered: its code and message are printed as they are. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ApiReply<T> {
  status: number;
  body: T;
  headers: Headers;
}

export class ApiClient {
  constructor(readonly baseUrl: string) {}

  get<T>(path: string, query?: Record<string, string | number | boolean | undefined>): Promise<T> {
    return this.call<T>("GET", path, { query }).then((r) => r.body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PUT", path, { json: JSON.stringify(body) }).then((r) => r.body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>("DELETE", path).then((r) => r.body);
  }

  /** Any call; `json` is sent as it is (an event's text is not re-encoded). */
  async call<T>(method: string, path: string, opts: { query?: Record<string, string | number | boolean | undefined>; json?: string } = {}): Promise<ApiReply<T>> {
    const res = await this.fetch(method, path, opts);
    const text = await res.text();
    const body = parseBody(text, res);
    if (!res.ok) throw errorOf(body, res.status);
    return { status: res.status, body: body as T, headers: res.headers };
  }

  /** The raw response (for streams); errors are thrown as for call(). */
  async stream(path: string, query: Record<string, string | number | boolean | undefined>, signal?: AbortSignal): Promise<Response> {
    const res = await this.fetch("GET", path, { query, accept: "text/event-stream", signal });
    if (!res.ok) throw errorOf(parseBody(await res.text(), res), res.status);
    return res;
  }

  url(path: string, query?: Record<string, string | number | boolean | undefined>): string {
    const u = new URL(path, this.baseUrl.endsWith("/") ? this.baseUrl : `${this.baseUrl}/`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  private async fetch(method: string, path: string, opts: { query?: Record<string, string | number | boolean | undefined>; json?: string; accept?: string; signal?: AbortSignal }): Promise<Response> {
    const url = this.url(path.replace(/^\//, ""), opts.query);
    try {
      return await fetch(url, {
        method,
        headers: { accept: opts.accept ?? "application/json", ...(opts.json === undefined ? {} : { "content-type": "application/json" }) },
        body: opts.json,
        signal: opts.signal,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError("UNAVAILABLE", `cannot reach ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, 0);
    }
  }
}

function parseBody(text: string, res: Response): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    if (!res.ok) return undefined;
    throw new ApiError("INTERNAL", `the gateway answered ${res.status} with a body that is not JSON`, res.status);
  }
}

function errorOf(body: unknown, status: number): ApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined)?.error;
  if (e && typeof e.code === "string" && typeof e.message === "string") {
    return new ApiError(e.code, e.message, status, typeof e.field === "string" ? e.field : undefined);
  }
  return new ApiError(`HTTP_${status}`, `the gateway answered ${status}`, status);
}

/** True when the gateway does not serve this route at all (an older gateway), as opposed to "no such function". */
export function isMissingRoute(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return (err.code === "NOT_FOUND" && err.message.startsWith("no route for ")) || err.code === "METHOD_NOT_ALLOWED";
}
