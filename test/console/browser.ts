// Chromium for the console tests: the Debian package driven by playwright-core (there is no browser download
// site here). Every request a page makes is watched: one that leaves localhost is refused and reported, as
// are console errors, page errors and failed responses the test did not ask for.
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

const CANDIDATES = [process.env.WEFT_CHROMIUM_BIN, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

export function chromiumPath(): string {
  const found = CANDIDATES.find((p): p is string => !!p && existsSync(p));
  if (!found) throw new Error("no Chromium: run `bash deploy/services.sh --for-tests` as root (apt-get install -y chromium), or set WEFT_CHROMIUM_BIN");
  return found;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    // Root cannot use Chromium's sandbox; the tests load only the console from 127.0.0.1.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}

export interface Watch {
  /** Requests to anything but 127.0.0.1 / localhost (refused). */
  external: string[];
  consoleErrors: string[];
  pageErrors: string[];
  /** Responses with status >= 400, as "STATUS METHOD PATH". */
  failures: string[];
}

const LOCAL = new Set(["127.0.0.1", "localhost", "[::1]"]);

export async function watchedContext(browser: Browser, opts: { colorScheme?: "light" | "dark" } = {}): Promise<{ context: BrowserContext; watch: Watch }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, colorScheme: opts.colorScheme ?? "light" });
  const watch: Watch = { external: [], consoleErrors: [], pageErrors: [], failures: [] };
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if ((url.protocol === "http:" || url.protocol === "https:" || url.protocol === "ws:") && !LOCAL.has(url.hostname)) {
      watch.external.push(url.href);
      return route.abort("blockedbyclient");
    }
    return route.continue();
  });
  context.on("page", (page) => watchPage(page, watch));
  return { context, watch };
}

function watchPage(page: Page, watch: Watch): void {
  page.on("console", (m) => {
    if (m.type() === "error") watch.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => watch.pageErrors.push(e.message));
  page.on("response", (r) => {
    if (r.status() >= 400) watch.failures.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
}

/** Bytes a page load moved over the wire (compressed bodies and headers), per request and in total. */
export async function transferred(page: Page, load: () => Promise<void>): Promise<{ total: number; requests: Array<{ url: string; bytes: number }> }> {
  const pending: Array<Promise<{ url: string; bytes: number }>> = [];
  const onFinished = (req: import("playwright-core").Request) => {
    pending.push(req.sizes().then((s) => ({ url: req.url(), bytes: s.responseBodySize + s.responseHeadersSize })));
  };
  page.on("requestfinished", onFinished);
  try {
    await load();
  } finally {
    page.off("requestfinished", onFinished);
  }
  const requests = await Promise.all(pending);
  return { total: requests.reduce((n, r) => n + r.bytes, 0), requests };
}
