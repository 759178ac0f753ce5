import { useState, type ReactNode } from 'react';
import type { ToolsSnapshot } from '../../../shared/tools';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { emptyDraft, parseDraft, type DraftErrors, type DraftField, type ServerDraft } from './server-form';

/** Why this client may not add programs (stdio servers) nor import a file of servers. */
export const STDIO_REFUSED =
  'Programs can be added only from the desktop app, the CLI, or a browser on this machine while Freehold listens on 127.0.0.1 only';

interface FieldProps {
  field: DraftField;
  label: string;
  errors: DraftErrors;
  hint?: ReactNode;
  wide?: boolean;
  children: (props: { id: string; 'aria-invalid': boolean | undefined; 'aria-describedby': string | undefined }) => ReactNode;
}

/** A labelled field with its hint and, after a try, what is wrong with it (tied to the field for screen readers). */
function Field({ field, label, errors, hint, wide, children }: FieldProps) {
  const id = `mcp-add-${field}`;
  const error = errors[field];
  const described = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={wide ? 'mcp-field wide' : 'mcp-field'}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': described })}
      {hint && (
        <p id={`${id}-hint`} className="muted field-hint">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="field-error tone-bad">
          {error}
        </p>
      )}
    </div>
  );
}

interface Props {
  snapshot: ToolsSnapshot;
  onSnapshot: (snapshot: ToolsSnapshot) => void;
}

/** "Add a server": a program to run (stdio) or a URL (Streamable HTTP), checked here before the host checks it again. */
export function AddServer({ snapshot, onSnapshot }: Props) {
  const api = useHostApi();
  const [draft, setDraft] = useState<ServerDraft>(() => ({ ...emptyDraft, transport: snapshot.canEditStdio ? 'stdio' : 'http' }));
  const [errors, setErrors] = useState<DraftErrors>({});
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  // A browser that may not add programs gets the URL form, whatever was picked before it was told.
  const transport = snapshot.canEditStdio ? draft.transport : 'http';
  const set = (patch: Partial<ServerDraft>) => setDraft((d) => ({ ...d, ...patch }));
  const existing = snapshot.servers.some((s) => s.name === draft.name.trim());

  return (
    <div className="mcp-add">
      <h3 id="mcp-add-title">Add a server</h3>
      <form
        className="mcp-add-form"
        aria-labelledby="mcp-add-title"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          setOutcome(null);
          const parsed = parseDraft({ ...draft, transport });
          if (!parsed.ok) {
            setErrors(parsed.errors);
            // The first field to fix gets the focus, and with it its message (aria-describedby).
            const first = Object.keys(parsed.errors)[0];
            if (first) requestAnimationFrame(() => document.getElementById(`mcp-add-${first}`)?.focus());
            return;
          }
          setErrors({});
          setBusy(true);
          api['tools.add']({ name: parsed.name, config: parsed.config })
            .then(
              (next) => {
                onSnapshot(next);
                setDraft({ ...emptyDraft, transport });
                setOutcome({ ok: true, text: `Added ${parsed.name}: it is listed above.` });
              },
              (error: unknown) => setOutcome({ ok: false, text: describeFailure(error, `Could not add ${parsed.name}`) }),
            )
            .finally(() => setBusy(false));
        }}
      >
        <fieldset className="mcp-transport">
          <legend>Type</legend>
          <label>
            <input
              type="radio"
              name="mcp-transport"
              value="stdio"
              checked={transport === 'stdio'}
              disabled={!snapshot.canEditStdio}
              aria-describedby={snapshot.canEditStdio ? undefined : 'mcp-stdio-refused'}
              onChange={() => set({ transport: 'stdio' })}
            />{' '}
            Program (stdio)
          </label>
          <label>
            <input
              type="radio"
              name="mcp-transport"
              value="http"
              checked={transport === 'http'}
              onChange={() => set({ transport: 'http' })}
            />{' '}
            URL (Streamable HTTP)
          </label>
          {!snapshot.canEditStdio && (
            <p id="mcp-stdio-refused" className="muted">
              {STDIO_REFUSED}.
            </p>
          )}
        </fieldset>
        <div className="settings-grid mcp-fields">
          <Field
            field="name"
            label="Name"
            errors={errors}
            hint={existing ? `A server named ${draft.name.trim()} exists: adding replaces it.` : undefined}
          >
            {(props) => (
              <input
                {...props}
                value={draft.name}
                maxLength={64}
                placeholder="weather"
                autoComplete="off"
                onChange={(e) => set({ name: e.target.value })}
              />
            )}
          </Field>
          {transport === 'stdio' ? (
            <>
              <Field field="command" label="Command" errors={errors}>
                {(props) => (
                  <input
                    {...props}
                    className="mono"
                    value={draft.command}
                    placeholder="npx"
                    autoComplete="off"
                    spellCheck={false}
                    onChange={(e) => set({ command: e.target.value })}
                  />
                )}
              </Field>
              <Field field="cwd" label="Working folder (optional)" errors={errors}>
                {(props) => (
                  <input
                    {...props}
                    className="mono"
                    value={draft.cwd}
                    autoComplete="off"
                    spellCheck={false}
                    onChange={(e) => set({ cwd: e.target.value })}
                  />
                )}
              </Field>
              <Field
                field="args"
                label="Arguments (one per line)"
                errors={errors}
                wide
                hint="Each line is one argument, spaces and quotes included: the program is run directly, not through a shell."
              >
                {(props) => (
                  <textarea
                    {...props}
                    className="mono"
                    rows={3}
                    value={draft.args}
                    placeholder={'-y\n@modelcontextprotocol/server-everything'}
                    spellCheck={false}
                    onChange={(e) => set({ args: e.target.value })}
                  />
                )}
              </Field>
              <Field
                field="env"
                label="Environment variables (KEY=value, one per line)"
                errors={errors}
                wide
                hint="The program gets these besides PATH, HOME and the like; nothing else of Freehold's environment."
              >
                {(props) => (
                  <textarea
                    {...props}
                    className="mono"
                    rows={2}
                    value={draft.env}
                    placeholder="API_KEY=…"
                    autoComplete="off"
                    spellCheck={false}
                    onChange={(e) => set({ env: e.target.value })}
                  />
                )}
              </Field>
            </>
          ) : (
            <>
              <Field field="url" label="URL" errors={errors} wide>
                {(props) => (
                  <input
                    {...props}
                    type="url"
                    className="mono"
                    value={draft.url}
                    placeholder="https://example.com/mcp"
                    autoComplete="off"
                    spellCheck={false}
                    onChange={(e) => set({ url: e.target.value })}
                  />
                )}
              </Field>
              <Field
                field="headers"
                label="Headers (Name: value, one per line)"
                errors={errors}
                wide
                hint="Sent with every request, for a token say. Kept in the configuration file as typed."
              >
                {(props) => (
                  <textarea
                    {...props}
                    className="mono"
                    rows={2}
                    value={draft.headers}
                    placeholder="Authorization: Bearer …"
                    autoComplete="off"
                    spellCheck={false}
                    onChange={(e) => set({ headers: e.target.value })}
                  />
                )}
              </Field>
            </>
          )}
        </div>
        <button type="submit" disabled={busy}>
          {busy ? 'Adding…' : 'Add server'}
        </button>
      </form>
      {outcome && (
        <p role={outcome.ok ? 'status' : 'alert'} className={outcome.ok ? 'tone-ok' : undefined}>
          {outcome.text}
        </p>
      )}
    </div>
  );
}
