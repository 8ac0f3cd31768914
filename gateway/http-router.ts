// A small router: exact segments and "{param}" segments (OpenAPI's path syntax, so the document shows the paths as
// they are routed), 404 for unknown paths, 405 (with Allow) for known paths asked with a method they do not serve.
import { WeftError, invalid } from "../shared/errors.js";

export type Params = Record<string, string>;

interface Route<H> {
  method: string;
  pattern: string;
  segments: string[];
  handler: H;
}

export type Match<H> = { handler: H; params: Params };

export class Router<H> {
  private readonly routes: Route<H>[] = [];

  add(method: string, pattern: string, handler: H): this {
    this.routes.push({ method, pattern, segments: pattern.split("/").filter(Boolean), handler });
    return this;
  }

  /** Every method and path pattern served, in the order added. */
  list(): Array<{ method: string; pattern: string }> {
    return this.routes.map(({ method, pattern }) => ({ method, pattern }));
  }

  /** The route for this method and path; throws NOT_FOUND or METHOD_NOT_ALLOWED (with the allowed methods). */
  match(method: string, path: string): Match<H> {
    const parts = path.split("/").filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method) return { handler: route.handler, params };
      allowed.push(route.method);
    }
    if (allowed.length) throw new MethodNotAllowed(method, path, allowed);
    throw new WeftError("NOT_FOUND", `no route for ${path}`);
  }
}

export class MethodNotAllowed extends WeftError {
  constructor(method: string, path: string, readonly allowed: string[]) {
    super("METHOD_NOT_ALLOWED", `${method} is not served on ${path}; use ${allowed.join(", ")}`);
  }
}

function matchSegments(pattern: string[], parts: string[]): Params | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const part = parts[i]!;
    if (p.startsWith("{") && p.endsWith("}")) params[p.slice(1, -1)] = decodeSegment(part, p.slice(1, -1));
    else if (p !== part) return undefined;
  }
  return params;
}

function decodeSegment(part: string, name: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(name, "is not a valid percent-encoded path segment");
  }
}
