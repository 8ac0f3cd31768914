// Side-by-side diff of two versions' code (CodeMirror's merge view), loaded when a diff is asked for.
import { basicSetup } from "codemirror";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { MergeView } from "@codemirror/merge";
import { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { oneDark } from "@codemirror/theme-one-dark";
import type { Language } from "./codemirror.js";

export function createDiffView(parent: HTMLElement, o: { before: string; after: string; language: Language; labels: [string, string] }): { destroy(): void } {
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  const side = (doc: string, label: string) => ({
    doc,
    extensions: [
      basicSetup,
      o.language === "python3" ? python() : javascript(),
      EditorState.readOnly.of(true),
      EditorView.editable.of(false),
      EditorView.contentAttributes.of({ "aria-label": label }),
      ...(dark ? [oneDark] : []),
    ],
  });
  const view = new MergeView({ parent, a: side(o.before, o.labels[0]), b: side(o.after, o.labels[1]), collapseUnchanged: { margin: 3, minSize: 6 } });
  return { destroy: () => view.destroy() };
}
