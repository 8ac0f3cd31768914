// The console's frame: navigation, the fabric's state, and the page for the current path.
import type { JSX } from "preact";
import { useEffect } from "preact/hooks";
import { Link } from "./components/link.js";
import { FabricBanner } from "./components/status.js";
import { useFabric } from "./fabric-status.js";
import { match, useLocation } from "./router.js";
import { AgentsPage } from "./pages/agents-page.js";
import { FunctionPage } from "./pages/function-page.js";
import { FunctionsPage } from "./pages/functions-page.js";
import { InvocationPage } from "./pages/invocation-page.js";
import { InvocationsPage } from "./pages/invocations-page.js";
import { NewFunctionPage } from "./pages/new-function-page.js";
import { PlaygroundPage } from "./pages/playground-page.js";

const NAV = [
  { href: "/functions", label: "Functions", section: "functions" },
  { href: "/invocations", label: "Invocations", section: "invocations" },
  { href: "/agents", label: "Agents", section: "agents" },
  { href: "/playground", label: "Playground", section: "playground" },
] as const;

export function App() {
  const loc = useLocation();
  const { state } = useFabric();
  const section = loc.path === "/" ? "functions" : loc.path.split("/")[1];
  const page = route(loc.path);

  useEffect(() => {
    document.title = `${page.title} · Weft`;
  }, [page.title]);

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href="/functions" class="brand" aria-label="Weft console home">
          <img src="/favicon.svg" alt="" width={22} height={22} />
          <span>Weft</span>
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.href}>
                <Link href={n.href} aria-current={section === n.section ? "page" : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`dot dot-${state.kind}`} role="status" aria-label={`Fabric ${state.kind}`} title={`Fabric: ${state.kind}`} />
      </header>
      <FabricBanner state={state} />
      <main id="main" tabIndex={-1}>
        {page.view}
      </main>
    </div>
  );
}

function route(path: string): { title: string; view: JSX.Element } {
  if (path === "/" || path === "/functions") return { title: "Functions", view: <FunctionsPage /> };
  if (path === "/functions/new") return { title: "New function", view: <NewFunctionPage /> };
  let p = match("/functions/:name", path);
  if (p) return { title: p.name!, view: <FunctionPage name={p.name!} key={p.name} /> };
  if (path === "/invocations") return { title: "Invocations", view: <InvocationsPage /> };
  p = match("/invocations/:id", path);
  if (p) return { title: `Invocation ${p.id!.slice(0, 8)}`, view: <InvocationPage id={p.id!} key={p.id} /> };
  if (path === "/agents") return { title: "Agents", view: <AgentsPage /> };
  if (path === "/playground") return { title: "Playground", view: <PlaygroundPage /> };
  return {
    title: "Not found",
    view: (
      <section class="card">
        <h1>Not found</h1>
        <p>
          Nothing lives at <code>{path}</code>. <Link href="/functions">Go to the functions</Link>.
        </p>
      </section>
    ),
  };
}
