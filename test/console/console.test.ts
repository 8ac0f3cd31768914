// The web console in a real Chromium on the real fabric (the gateway serves the build at /): create a function
// in the UI, deploy, invoke and read the output; see an API call appear live; deploy a second version, diff,
// roll back; see API errors next to their fields; charts with data; the live agent. Throughout: no console
// error, no request that leaves localhost, no failed request the test did not provoke. It measures the first
// load of the functions page and saves a screenshot of each page under test-artifacts/console/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ensureConsoleBuilt } from "../../clients/console/build.js";
import { eventually, http, startFabric, type Fabric } from "../harness/fabric.js";
import { launchChromium, transferred, watchedContext, type Watch } from "./browser.js";

const ARTIFACTS = resolve(import.meta.dirname, "../../test-artifacts/console");
/** The budget for the first load of the functions page, compressed. */
const FIRST_LOAD_BUDGET_BYTES = 500 * 1024;
const LIVE_WITHIN_MS = 2000;
const STEP_TIMEOUT_MS = 15_000;
/** One stem cell is enough for these tests, and spares the shared machine. */
const AGENT_ENV = { WEFT_STEM_RUNTIMES: "nodejs", WEFT_STEM_ISOLATIONS: "runc" };

const V1 = `exports.handler = async (event, context) => {
  console.log("v1 saw", JSON.stringify(event));
  return { hello: event.name, version: 1, greeting: process.env.GREETING };
};
`;
const V2 = `exports.handler = async (event) => {
  return { bonjour: event.name, version: 2 };
};
`;

/** What the test reads of a <canvas> (this file is typed for Node, without the DOM). */
type Canvas = { width: number; height: number; getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } };

let fabric: Fabric;
let browser: Browser;
let context: BrowserContext;
let watch: Watch;
let page: Page;
const name = `console-${randomBytes(3).toString("hex")}`;
/** Failed responses the test provokes on purpose (an API error to show), as Watch.failures lists them. */
const provoked: string[] = [];
const figures: Record<string, string> = {};

before(async () => {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  await ensureConsoleBuilt();
  [fabric, browser] = await Promise.all([
    startFabric({ agentEnv: AGENT_ENV }),
    launchChromium(),
  ]);
  ({ context, watch } = await watchedContext(browser));
  // A step that cannot happen fails the test instead of waiting for ever.
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  page = await context.newPage();
});

after(async () => {
  // The page goes first: its live stream would otherwise see the gateway stop.
  await context?.close();
  await browser?.close();
  await fabric?.stop();
  if (Object.keys(figures).length) process.stderr.write(`console figures: ${JSON.stringify(figures)}\n`);
});

/** A test of the UI; when it fails, what the page showed is saved beside the screenshots. */
function uiTest(title: string, body: () => Promise<void>): void {
  test(title, async () => {
    try {
      await body();
    } catch (err) {
      await page.screenshot({ path: join(ARTIFACTS, `failed-${title.slice(0, 40).replace(/\W+/g, "-")}.png`), fullPage: true }).catch(() => undefined);
      throw err;
    }
  });
}

const url = (path: string) => `${fabric.httpUrl}${path}`;
/** A full-page screenshot from the top (the sticky header would otherwise sit where the view was scrolled). */
async function shot(file: string): Promise<void> {
  await page.evaluate("window.scrollTo(0, 0)");
  await page.screenshot({ path: join(ARTIFACTS, file), fullPage: true });
}
const nav = (label: string) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true });
const result = () => page.getByRole("region", { name: "Result" });

async function setCode(code: string): Promise<void> {
  const editor = page.getByRole("textbox", { name: "Code" });
  await editor.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(code);
  assert.equal((await editor.innerText()).replace(/\u00a0/g, " ").trim(), code.trim());
}

async function invokeInUi(event: unknown): Promise<void> {
  await page.getByLabel("Event").fill(JSON.stringify(event));
  await page.getByRole("button", { name: "Invoke" }).click();
}

describe("console", { timeout: 120_000 }, () => {
  uiTest("the functions page: first load within the page-weight budget, no editor downloaded", async () => {
    let tableMs = 0;
    const weight = await transferred(page, async () => {
      await page.goto(url("/"));
      await page.getByRole("table", { name: "Functions" }).getByRole("row").nth(1).waitFor();
      // Milliseconds from the start of the navigation to the table filled from the API.
      tableMs = Math.round(await page.evaluate<number>("performance.now()"));
      await page.waitForLoadState("networkidle");
    });
    const timing = await page.evaluate<{ domContentLoaded: number; load: number }>(`(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      return { domContentLoaded: Math.round(nav.domContentLoadedEventEnd), load: Math.round(nav.loadEventEnd) };
    })()`);
    figures.functionsFirstLoadKiB = (weight.total / 1024).toFixed(1);
    figures.functionsFirstLoadRequests = String(weight.requests.length);
    figures.functionsDomContentLoadedMs = String(timing.domContentLoaded);
    figures.functionsLoadEventMs = String(timing.load);
    figures.functionsTableFilledMs = String(tableMs);
    assert.ok(weight.total <= FIRST_LOAD_BUDGET_BYTES, `first load moved ${weight.total} bytes: ${JSON.stringify(weight.requests)}`);
    assert.ok(!weight.requests.some((r) => /\/assets\/editor-/.test(r.url)), "the editor is loaded only where code is edited");
    const js = weight.requests.find((r) => /\/assets\/index-.*\.js$/.test(r.url));
    assert.ok(js, "the app's script was loaded");
    await page.getByRole("button", { name: "New function" }).waitFor();
    await page.getByRole("region", { name: "Metrics" }).waitFor();
    await shot("functions.png");
  });

  uiTest("an API error is shown with its code next to the field it names", async () => {
    await page.getByRole("button", { name: "New function" }).click();
    await page.getByLabel("Name").fill("Bad_Name");
    await page.getByRole("textbox", { name: "Code" }).waitFor();
    provoked.push(`400 PUT /v1/functions/Bad_Name`);
    await page.getByRole("button", { name: "Deploy" }).click();
    const nameField = page.getByLabel("Name");
    await page.locator("#fn-name-error").getByText("INVALID_ARGUMENT").waitFor();
    assert.equal(await nameField.getAttribute("aria-invalid"), "true");
    assert.equal(await nameField.getAttribute("aria-describedby"), "fn-name-error");
    assert.match(await page.locator("#fn-name-error").innerText(), /INVALID_ARGUMENT\s+name: must match/);
  });

  uiTest("create a function in the UI, deploy it, invoke it and read the output", async () => {
    await page.getByLabel("Name").fill(name);
    await page.getByLabel("Runtime").selectOption("nodejs");
    await page.getByLabel("Isolation").selectOption("runc");
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.getByLabel("Variable 1 name").fill("GREETING");
    await page.getByLabel("Variable 1 value").fill("hi");
    assert.equal(await page.getByLabel("Variable 1 value").getAttribute("type"), "password", "values are masked");
    await page.getByRole("button", { name: "Reveal values" }).click();
    assert.equal(await page.getByLabel("Variable 1 value").getAttribute("type"), "text");
    await setCode(V1);
    await shot("new-function.png");
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.waitForURL(url(`/functions/${name}`));
    await page.getByRole("status").filter({ hasText: "version 1 is deployed" }).waitFor();

    await invokeInUi({ name: "console" });
    const r = result();
    await r.getByText("ok", { exact: true }).waitFor();
    assert.match(await r.getByLabel("Output").innerText(), /"hello": "console"/);
    assert.match(await r.getByLabel("Output").innerText(), /"greeting": "hi"/, "the environment was deployed");
    assert.match(await r.getByLabel("Logs").innerText(), /v1 saw \{"name":"console"\}/);
    assert.match(await r.innerText(), /cold|warm/);

    await page.getByLabel("Async", { exact: true }).check();
    await invokeInUi({ name: "later" });
    await r.getByText('"hello": "later"').waitFor();
    assert.match(await r.innerText(), /ok/);
    await page.getByLabel("Sync", { exact: true }).check();
  });

  uiTest("an invocation made through the API appears live within 2 s, on the function page and the invocations page", async () => {
    const table = page.getByRole("table", { name: "Invocations" });
    // Timed from the API's answer: the call itself may take long on a loaded machine.
    const viaApi = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke`, { name: "api" });
    assert.equal(viaApi.status, 200);
    let started = Date.now();
    await table.locator(`tr[data-invocation-id="${viaApi.body.invocationId}"]`).waitFor({ timeout: LIVE_WITHIN_MS });
    figures.liveOnFunctionPageMs = String(Date.now() - started);

    await nav("Invocations").click();
    await page.getByRole("status").filter({ hasText: "Live:" }).waitFor();
    const again = await http(fabric.httpUrl, "POST", `/v1/functions/${name}/invoke?async=true`, { name: "async" });
    assert.equal(again.status, 202);
    started = Date.now();
    const row = table.locator(`tr[data-invocation-id="${again.body.invocationId}"]`);
    await row.waitFor({ timeout: LIVE_WITHIN_MS });
    figures.liveOnInvocationsPageMs = String(Date.now() - started);
    await row.getByText("ok", { exact: true }).waitFor();
    await shot("invocations.png");

    await page.getByLabel("Status").selectOption("error");
    await page.waitForURL(/status=error/);
    await table.getByText("No invocations match.").waitFor();
    await page.getByLabel("Status").selectOption("ok");
    await row.waitFor();

    await row.getByRole("link", { name: again.body.invocationId.slice(0, 8) }).click();
    await page.getByRole("region", { name: "Timings" }).waitFor();
    assert.match(await page.getByRole("region", { name: "Result" }).innerText(), /"hello": "async"/);
    assert.match(await page.getByRole("region", { name: "Event" }).innerText(), /"name": "async"/);
    await shot("invocation.png");
  });

  uiTest("edit and deploy a second version, diff it, roll back", async () => {
    await page.goto(url(`/functions/${name}`));
    await setCode(V2);
    await page.getByText("Changed: not deployed yet").waitFor();
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.getByRole("status").filter({ hasText: "Deployed version 2." }).waitFor();
    await invokeInUi({ name: "v2" });
    await result().getByText('"bonjour": "v2"').waitFor();

    const versions = page.getByRole("table", { name: "Versions" });
    await versions.getByRole("row").nth(2).waitFor();
    await page.getByRole("button", { name: "Diff version 1" }).click();
    const diff = page.getByRole("region", { name: "Diff of version 1 against version 2" });
    await diff.getByRole("textbox", { name: "Code of version 1" }).waitFor();
    assert.match(await diff.innerText(), /bonjour/);

    await page.getByRole("button", { name: "Roll back to version 1" }).click();
    await page.getByRole("status").filter({ hasText: "version 3 runs version 1's code" }).waitFor();
    await versions.getByRole("row").nth(3).waitFor();
    await invokeInUi({ name: "back" });
    await result().getByText('"hello": "back"').waitFor();
    assert.match(await result().innerText(), /version\s*3/i);

    // An alias (made through the API) is offered beside the versions, and runs the version it points to.
    assert.equal((await http(fabric.httpUrl, "PUT", `/v1/functions/${name}/aliases/prod`, { version: 2 })).status, 200);
    await page.reload();
    await page.getByLabel("Version", { exact: true }).selectOption({ label: "prod" });
    await invokeInUi({ name: "alias" });
    await result().getByText('"bonjour": "alias"').waitFor();
  });

  uiTest("a bad setting is refused by the API and its error shows next to that field", async () => {
    await page.getByText("Settings", { exact: true }).click();
    await page.getByLabel("Timeout (ms)").fill("5");
    provoked.push(`400 PUT /v1/functions/${name}`);
    await page.getByRole("button", { name: "Deploy" }).click();
    const error = page.locator("#fn-timeout-error");
    await error.waitFor();
    assert.match(await error.innerText(), /INVALID_ARGUMENT\s+limits\.timeoutMs:/);
    assert.equal(await page.getByLabel("Timeout (ms)").getAttribute("aria-describedby"), "fn-timeout-error");
    await page.getByRole("button", { name: "Discard changes" }).click();
  });

  uiTest("the metrics charts render with data", async () => {
    const metrics = page.getByRole("region", { name: "Metrics" });
    await metrics.scrollIntoViewIfNeeded();
    const calls = metrics.locator("dl.totals div").filter({ hasText: "Calls" }).locator("dd");
    await page.waitForFunction((el) => Number(el?.textContent) >= 5, await calls.elementHandle(), { timeout: 15_000 });
    const charts = metrics.getByRole("figure");
    assert.equal(await charts.count(), 3);
    for (const title of ["Calls and errors per minute", "Latency (ms)", "Cold starts"]) {
      const chart = metrics.getByRole("figure", { name: title });
      await chart.locator("canvas").waitFor();
      if (title !== "Cold starts") assert.ok(Number(await chart.getAttribute("data-points")) > 0, `${title} has points`);
    }
    const painted = await metrics.locator("canvas").first().evaluate((el) => {
      const canvas = el as unknown as Canvas;
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
      return n;
    });
    assert.ok(painted > 100, "the calls chart drew something");
    await page.getByRole("radio", { name: "15 min" }).click();
    await page.getByRole("radio", { name: "15 min", checked: true }).waitFor();
    await shot("function.png");
  });

  uiTest("the agents view shows the live agent, its slots and its containers", async () => {
    await nav("Agents").focus();
    await page.keyboard.press("Enter");
    const agents = page.getByRole("table", { name: "Agents" });
    const row = agents.getByRole("row").filter({ hasText: fabric.agent.agentId });
    await row.waitFor();
    assert.match(await row.innerText(), /running/);
    const pools = page.getByRole("table", { name: `Pools of ${fabric.agent.agentId}` });
    await pools.getByRole("row").filter({ hasText: "nodejs" }).waitFor();
    await shot("agents.png");
  });

  uiTest("the playground runs a script once and shows its output", async () => {
    await nav("Playground").click();
    await page.getByRole("textbox", { name: "Code" }).waitFor();
    await page.getByLabel("Standard input").fill("hello");
    await page.getByRole("button", { name: "Run" }).click();
    const out = result().getByLabel("stdout");
    await out.getByText("read 5 bytes of stdin").waitFor({ timeout: 30_000 });
    assert.match(await out.innerText(), /hello from the playground/);
    assert.match(await result().innerText(), /Exit code\s*0/i);
    await shot("playground.png");
  });

  uiTest("dark theme follows the system", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(url("/functions"));
    await page.getByRole("table", { name: "Functions" }).getByRole("link", { name }).waitFor();
    const bg = await page.evaluate<string>("getComputedStyle(document.body).backgroundColor");
    assert.notEqual(bg, "rgb(246, 247, 249)", "the dark background");
    await shot("functions-dark.png");
    await page.emulateMedia({ colorScheme: "light" });
  });

  uiTest("a function is deleted from the list after a confirmation", async () => {
    const functions = page.getByRole("table", { name: "Functions" });
    await page.getByRole("button", { name: `Delete ${name}` }).click();
    const dialog = page.getByRole("dialog", { name: `Delete ${name}?` });
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await functions.getByRole("link", { name }).waitFor();
    await page.getByRole("button", { name: `Delete ${name}` }).click();
    await dialog.getByRole("button", { name: "Delete" }).click();
    await functions.getByRole("link", { name }).waitFor({ state: "detached" });
    assert.equal((await http(fabric.httpUrl, "GET", `/v1/functions/${name}`)).status, 404);
  });

  uiTest("a degraded fabric is shown as such, and the page recovers by itself", async () => {
    provoked.push("503 GET /healthz", "503 GET /v1/functions", "503 GET /v1/metrics");
    await fabric.nats.stop();
    const banner = page.getByRole("alert").filter({ hasText: "The fabric is degraded" });
    // The console asks /healthz every 10 s while all is well (at once when a call answers 503).
    await banner.waitFor({ timeout: 15_000 });
    assert.match(await banner.innerText(), /nats/);
    await shot("degraded.png");
    await fabric.nats.restart();
    await banner.waitFor({ state: "detached", timeout: 30_000 });
    await page.getByRole("status", { name: "Fabric up" }).waitFor();
    await page.getByRole("table", { name: "Functions" }).getByRole("row").nth(1).waitFor();
  });

  uiTest("nothing left localhost, nothing failed unasked, the console logged no error", async () => {
    assert.deepEqual(watch.external, []);
    assert.deepEqual(watch.pageErrors, []);
    // Nothing failed but what the test provoked (a call may fail more than once while NATS is away).
    assert.deepEqual([...new Set(watch.failures)].filter((f) => !provoked.includes(f)), []);
    assert.ok(watch.failures.includes("400 PUT /v1/functions/Bad_Name") && watch.failures.includes("503 GET /healthz"), JSON.stringify(watch.failures));
    // Chromium logs each failed response once; those are the provoked ones, and there is nothing else.
    const unexplained = watch.consoleErrors.filter((e) => !/^Failed to load resource: the server responded with a status of (400|503)/.test(e));
    assert.deepEqual(unexplained, []);
    assert.equal(watch.consoleErrors.length, watch.failures.length);
  });
});

// Last, in a block of its own: its first run on a machine compiles the template's package (cargo, a minute or
// two); later runs find the layer built (content-addressed, in the default build directory).
describe("console: a rust function", { timeout: 900_000 }, () => {
  uiTest("is created in the editor and saved as its Cargo package (src/lib.rs beside the template's Cargo.toml and Cargo.lock), builds, answers, and keeps its package on the next save", async () => {
    const rust = `${name}-rs`;
    await page.goto(url("/functions"));
    await page.getByRole("button", { name: "New function" }).click();
    await page.getByLabel("Name").fill(rust);
    await page.getByLabel("Runtime").selectOption("rust");
    await page.getByRole("textbox", { name: "Code" }).getByText("pub fn handler(event: Value)").waitFor();
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.waitForURL(url(`/functions/${rust}`));
    await page.getByRole("status").filter({ hasText: "version 1 is deployed" }).waitFor();
    const v1 = await http(fabric.httpUrl, "GET", `/v1/functions/${rust}`);
    assert.equal(v1.status, 200, JSON.stringify(v1.body));
    assert.equal(v1.body.runtime, "rust");
    assert.deepEqual(Object.keys(v1.body.files).sort(), ["Cargo.lock", "Cargo.toml", "src/lib.rs"]);
    assert.match(v1.body.files["Cargo.toml"], /serde_json = "1"/);
    assert.match(v1.body.files["src/lib.rs"], /pub fn handler\(event: Value\) -> Result<Value, String>/);
    const built = await eventually(async () => {
      const r = await http(fabric.httpUrl, "GET", `/v1/functions/${rust}`);
      return r.body.build?.status === "building" ? undefined : r.body.build;
    }, `the build of ${rust}`, 840_000, 1000);
    assert.equal(built.status, "ready", built.error);

    await invokeInUi({ name: "crab" });
    await result().getByText('"hello": "crab"').waitFor();

    await page.getByText("Settings", { exact: true }).click();
    await page.getByLabel("Description").fill("saved again");
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.getByRole("status").filter({ hasText: "Deployed version 2." }).waitFor();
    const v2 = await http(fabric.httpUrl, "GET", `/v1/functions/${rust}?version=2`);
    assert.equal(v2.status, 200, JSON.stringify(v2.body));
    assert.equal(v2.body.description, "saved again");
    assert.deepEqual(v2.body.files, v1.body.files, "the package's files are kept as they were");
    // The same files: the same layer, built already.
    const again = await eventually(async () => {
      const r = await http(fabric.httpUrl, "GET", `/v1/functions/${rust}?version=2`);
      return r.body.build?.status === "building" ? undefined : r.body.build;
    }, `the build of ${rust} v2`, 60_000, 250);
    assert.equal(again.status, "ready", again.error);
    assert.equal((await http(fabric.httpUrl, "DELETE", `/v1/functions/${rust}`)).status, 200);
  });
});
