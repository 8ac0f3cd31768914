// The code editor (CodeMirror 6), loaded only by the pages that edit code: highlighting for the function's
// language, line numbers, search, bracket matching, and Mod-S to deploy. Dark when the system is.
import { basicSetup } from "codemirror";
import { indentWithTab } from "@codemirror/commands";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { Compartment, EditorState, type Extension } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { oneDark } from "@codemirror/theme-one-dark";

import { languageOf as languageOfRuntime, type Runtime } from "../templates.js";

/** The editor highlights a function's runtime's language. */
export type Language = Runtime;

export interface CodeEditorOptions {
  doc: string;
  language: Language;
  label: string;
  readOnly?: boolean;
  describedBy?: string;
  onChange?: (doc: string) => void;
  onSave?: () => void;
}

export interface CodeEditor {
  getDoc(): string;
  setDoc(doc: string): void;
  setLanguage(language: Language): void;
  focus(): void;
  destroy(): void;
}

const languageOf = (l: Language): Extension => {
  const language = languageOfRuntime(l);
  return language === "python" ? python() : javascript({ typescript: language === "typescript" });
};

const darkQuery = matchMedia("(prefers-color-scheme: dark)");

/** Colours come from the page's CSS variables so the editor matches both themes. */
const baseTheme = EditorView.theme({
  "&": { fontSize: "13px", border: "1px solid var(--border)", borderRadius: "6px" },
  "&.cm-focused": { outline: "2px solid var(--focus)", outlineOffset: "1px" },
  ".cm-scroller": { fontFamily: "var(--mono)", minHeight: "16rem", maxHeight: "36rem" },
});

export function createCodeEditor(parent: HTMLElement, o: CodeEditorOptions): CodeEditor {
  const language = new Compartment();
  const theme = new Compartment();
  const attrs: Record<string, string> = { "aria-label": o.label };
  if (o.describedBy) attrs["aria-describedby"] = o.describedBy;
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: o.doc,
      extensions: [
        basicSetup,
        keymap.of([
          { key: "Mod-s", preventDefault: true, run: () => (o.onSave?.(), true) },
          // Tab indents; Escape then Tab leaves the editor, so keyboard users are never trapped.
          indentWithTab,
        ]),
        language.of(languageOf(o.language)),
        theme.of(darkQuery.matches ? oneDark : []),
        baseTheme,
        EditorView.contentAttributes.of(attrs),
        EditorState.readOnly.of(o.readOnly ?? false),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) o.onChange?.(u.state.doc.toString());
        }),
      ],
    }),
  });
  const onTheme = () => view.dispatch({ effects: theme.reconfigure(darkQuery.matches ? oneDark : []) });
  darkQuery.addEventListener("change", onTheme);
  return {
    getDoc: () => view.state.doc.toString(),
    setDoc: (doc) => {
      if (doc !== view.state.doc.toString()) view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: doc } });
    },
    setLanguage: (l) => view.dispatch({ effects: language.reconfigure(languageOf(l)) }),
    focus: () => view.focus(),
    destroy: () => {
      darkQuery.removeEventListener("change", onTheme);
      view.destroy();
    },
  };
}
