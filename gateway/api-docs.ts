// GET /openapi.json and GET /docs: the OpenAPI document, and a page that renders it with Swagger UI, whose files come
// from the swagger-ui-dist package installed with the gateway. Nothing is fetched from elsewhere: the page's
// Content-Security-Policy lets it load and call only this gateway.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { z } from "zod";
import { notFound } from "../shared/errors.js";
import { LIMITS } from "../shared/limits.js";
import type { Reply, Route } from "./http-routes.js";
import { openApiDocument } from "./openapi.js";

const require = createRequire(import.meta.url);
const RENDERER_DIR = dirname(require.resolve("swagger-ui-dist/package.json"));
const WEFT_VERSION = (require("../package.json") as { version: string }).version;

/** The renderer's files the page loads, and their types. */
const RENDERER_FILES: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

/** Only this gateway: no CDN, no font service, no validator badge, no analytics. */
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weft API reference</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="api"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// A file, not an inline script, so the page's CSP can forbid inline scripts. validatorUrl null: the default posts
// the document to a public validator.
const INIT = `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#api", deepLinking: true, validatorUrl: null, defaultModelsExpandDepth: 0, tryItOutEnabled: false });\n`;

const DESCRIPTION = [
  "Weft runs functions (Python 3 or JavaScript) on demand. This is its HTTP API; the same operations are served over gRPC",
  "(package weft.v1, with reflection) and invocations over NATS (weft.invoke.{name}).",
  "",
  'Every error answers `{"error": {"code", "message", "field"?}}`: the code is stable and maps to one HTTP status',
  "(see components.responses); `field` names the part of the request at fault. User input never causes a 500.",
  "",
  `Limits: an event (request body) of up to ${LIMITS.payloadBytes} bytes and ${LIMITS.jsonDepth} levels of nesting; code up to`,
  `${LIMITS.codeBytes} bytes of UTF-8; a PUT body up to ${LIMITS.functionBodyBytes} bytes.`,
].join("\n");

export class ApiDocs {
  /** GET /docs/{asset}: any name, so an unknown one is a 404 like any missing file. */
  readonly assetParams = z.object({ asset: z.string().describe(`a file of the page: ${[...Object.keys(RENDERER_FILES), "init.js"].join(", ")}`) });
  private routes: Route[] = [];
  private cached: Record<string, unknown> | undefined;
  private readonly files = new Map<string, Promise<Buffer>>();

  /** The routes the document describes (the same table the router serves). */
  describe(routes: Route[]): void {
    this.routes = routes;
    this.cached = undefined;
  }

  document(): Record<string, unknown> {
    return (this.cached ??= openApiDocument(this.routes, { title: "Weft", version: WEFT_VERSION, description: DESCRIPTION }));
  }

  page(): Reply {
    return { status: 200, body: Buffer.from(PAGE), headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": CSP } };
  }

  async asset(name: string): Promise<Reply> {
    if (name === "init.js") return { status: 200, body: Buffer.from(INIT), headers: { "content-type": "text/javascript; charset=utf-8" } };
    const type = RENDERER_FILES[name];
    if (!type) throw notFound(`docs file ${name}`);
    let file = this.files.get(name);
    if (!file) {
      file = readFile(join(RENDERER_DIR, name));
      this.files.set(name, file);
      file.catch(() => this.files.delete(name)); // a failed read is retried on the next request
    }
    return { status: 200, body: await file, headers: { "content-type": type, "cache-control": "public, max-age=86400" } };
  }
}
