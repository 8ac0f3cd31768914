// The code editor as a component. CodeMirror is loaded on first use (a separate chunk), so the pages
// that only list things never download it.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { CodeEditor as Editor, Language } from "../editor/codemirror.js";

interface Props {
  value: string;
  language: Language;
  label: string;
  onChange?: (value: string) => void;
  onSave?: () => void;
  readOnly?: boolean;
  describedBy?: string;
  invalid?: boolean;
}

let loading: Promise<typeof import("../editor/codemirror.js")> | undefined;
const loadEditor = () => (loading ??= import("../editor/codemirror.js"));

export function CodeEditor(props: Props) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<Editor | undefined>(undefined);
  const latest = useRef(props);
  latest.current = props;
  const [ready, setReady] = useState(false);

  useEffect(() => {
    let cancelled = false;
    void loadEditor().then((m) => {
      if (cancelled || !host.current) return;
      editor.current = m.createCodeEditor(host.current, {
        doc: latest.current.value,
        language: latest.current.language,
        label: latest.current.label,
        readOnly: latest.current.readOnly,
        describedBy: latest.current.describedBy,
        onChange: (doc) => {
          emitted.current = doc;
          latest.current.onChange?.(doc);
        },
        onSave: () => latest.current.onSave?.(),
      });
      setReady(true);
    });
    return () => {
      cancelled = true;
      editor.current?.destroy();
      editor.current = undefined;
    };
  }, []);

  // The editor owns its text while someone types: only a value that did not come from it (a rollback, a
  // discard) is written back. A render still carrying an earlier keystroke's value must not undo the later ones.
  // Effects of earlier renders can run late (after later keystrokes): compare with the newest props only.
  const emitted = useRef(props.value);
  useLayoutEffect(() => {
    const value = latest.current.value;
    if (!editor.current || value === emitted.current) return;
    emitted.current = value;
    editor.current.setDoc(value);
  }, [props.value, ready]);

  useEffect(() => {
    editor.current?.setLanguage(props.language);
  }, [props.language, ready]);

  return (
    <div class={`code-editor${props.invalid ? " invalid" : ""}`} data-ready={ready ? "true" : "false"}>
      <div ref={host} />
      {!ready && <div class="editor-loading">Loading the editor…</div>}
    </div>
  );
}
