// A function's versions: when each was made, its size, a diff against the current code, and roll back
// (the older version's code and settings deployed again, as a new version).
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, type FunctionDefinition, type FunctionVersions } from "../api.js";
import { FieldError } from "../components/field.js";
import { bytes, time } from "../format.js";
import { formOf, specOf } from "../function-form.js";

interface Props {
  name: string;
  current: FunctionDefinition;
  versions: FunctionVersions | undefined;
  onDeployed: (message: string) => void;
}

export function VersionsPanel({ name, current, versions, onDeployed }: Props) {
  const [diffOf, setDiffOf] = useState<number | undefined>();
  const [busy, setBusy] = useState<number | undefined>();
  const [error, setError] = useState<ApiError | undefined>();

  async function rollBack(version: number) {
    setBusy(version);
    setError(undefined);
    try {
      const old = await api.getFunction(name, version);
      const deployed = await api.putFunction(name, specOf(formOf(old)));
      setDiffOf(undefined);
      onDeployed(`Rolled back: version ${deployed.version} runs version ${version}'s code.`);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(undefined);
    }
  }

  return (
    <section class="card" aria-labelledby="versions-heading">
      <h2 id="versions-heading">Versions</h2>
      <FieldError id="versions-error" error={error} />
      <div class="table-wrap">
        <table aria-label="Versions">
          <thead>
            <tr>
              <th scope="col" class="num">Version</th>
              <th scope="col">Created</th>
              <th scope="col">Runtime</th>
              <th scope="col">Isolation</th>
              <th scope="col" class="num">Code</th>
              <th scope="col">SHA-256</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(versions?.versions ?? []).map((v) => (
              <tr key={v.version} aria-current={v.version === current.version ? "true" : undefined}>
                <td class="num">
                  {v.version}
                  {v.version === current.version && <span class="badge"> current</span>}
                </td>
                <td>{time(v.createdAt)}</td>
                <td>{v.runtime}</td>
                <td>{v.isolation}</td>
                <td class="num">{bytes(v.codeBytes)}</td>
                <td class="mono small">{v.codeSha256.slice(0, 12)}</td>
                <td class="actions-cell">
                  {v.version !== current.version && (
                    <>
                      <button type="button" class="link" aria-pressed={diffOf === v.version} aria-label={`Diff version ${v.version}`} onClick={() => setDiffOf(diffOf === v.version ? undefined : v.version)}>
                        Diff
                      </button>
                      <button type="button" class="link" aria-label={`Roll back to version ${v.version}`} disabled={busy !== undefined} onClick={() => void rollBack(v.version)}>
                        {busy === v.version ? "Rolling back…" : "Roll back"}
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {diffOf !== undefined && <VersionDiff name={name} version={diffOf} current={current} />}
    </section>
  );
}

function VersionDiff({ name, version, current }: { name: string; version: number; current: FunctionDefinition }) {
  const host = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<ApiError | undefined>();
  const [same, setSame] = useState(false);
  useEffect(() => {
    let view: { destroy(): void } | undefined;
    let cancelled = false;
    Promise.all([api.getFunction(name, version), import("../editor/diff.js")]).then(
      ([old, m]) => {
        if (cancelled || !host.current) return;
        setSame(old.code === current.code);
        view = m.createDiffView(host.current, {
          before: old.code,
          after: current.code,
          language: current.runtime,
          labels: [`Code of version ${version}`, `Code of version ${current.version}`],
        });
      },
      (err: unknown) => setError(err as ApiError),
    );
    return () => {
      cancelled = true;
      view?.destroy();
    };
  }, [name, version, current.version]);
  return (
    <div class="diff" role="region" aria-label={`Diff of version ${version} against version ${current.version}`}>
      <h3>
        Version {version} → version {current.version} (current){same && " — the code is the same"}
      </h3>
      <FieldError id="diff-error" error={error} />
      <div ref={host} />
    </div>
  );
}
