// Small accessible building blocks: buttons, fields, cards, badges, states (loading, empty,
// error), dialogs and drawers (focus trapped by <dialog>), a copy button and a pager.
import { useEffect, useId, useRef, useState, type ReactNode, type InputHTMLAttributes, type SelectHTMLAttributes } from 'react';
import { ApiError } from '../api/client';
import { useT } from '../i18n';

export function Button({
  kind = 'secondary',
  busy,
  children,
  ...rest
}: React.ButtonHTMLAttributes<HTMLButtonElement> & { kind?: 'primary' | 'secondary' | 'danger' | 'ghost'; busy?: boolean }) {
  return (
    <button type="button" className={`btn btn-${kind}`} aria-busy={busy || undefined} {...rest} disabled={rest.disabled || busy}>
      {busy && <span className="spinner" aria-hidden="true" />}
      {children}
    </button>
  );
}

export function Field({
  label,
  hint,
  children,
}: {
  label: string;
  hint?: ReactNode;
  children: (id: string, hintId?: string) => ReactNode;
}) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id, hintId)}
      {hint && (
        <div className="hint" id={hintId}>
          {hint}
        </div>
      )}
    </div>
  );
}

export function TextField({ label, hint, ...input }: InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: ReactNode }) {
  return <Field label={label} hint={hint}>{(id, hintId) => <input id={id} aria-describedby={hintId} {...input} />}</Field>;
}

export function SelectField({
  label,
  hint,
  options,
  ...select
}: SelectHTMLAttributes<HTMLSelectElement> & { label: string; hint?: ReactNode; options: { value: string; label: string }[] }) {
  return (
    <Field label={label} hint={hint}>
      {(id, hintId) => (
        <select id={id} aria-describedby={hintId} {...select}>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function Checkbox({ label, ...input }: InputHTMLAttributes<HTMLInputElement> & { label: string }) {
  return (
    <label className="checkbox">
      <input type="checkbox" {...input} /> {label}
    </label>
  );
}

/** A form's end: the mutation's error or success, and its submit button with progress. */
export function SubmitRow({
  mutation,
  label,
  done,
  onClick,
}: {
  mutation: { error: unknown; isSuccess: boolean; isPending: boolean };
  label: string;
  done?: string;
  onClick?: () => void;
}) {
  const t = useT();
  return (
    <>
      {mutation.error ? <ErrorBox error={mutation.error} /> : null}
      {mutation.isSuccess && (
        <p className="good small" role="status">
          {done ?? t('common.saved')}
        </p>
      )}
      <div className="row">
        <Button kind="primary" type={onClick ? 'button' : 'submit'} busy={mutation.isPending} onClick={onClick}>
          {label}
        </Button>
      </div>
    </>
  );
}

export function Card({ title, actions, children, className = '' }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section className={`card ${className}`}>
      {(title || actions) && (
        <header className="card-head">
          {title && <h2>{title}</h2>}
          {actions && <div className="actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

export function Stat({ label, value, sub, tone }: { label: string; value: ReactNode; sub?: ReactNode; tone?: 'good' | 'bad' }) {
  return (
    <div className={`stat ${tone ?? ''}`}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {sub && <div className="stat-sub">{sub}</div>}
    </div>
  );
}

export interface Column {
  label: string;
  /** Right-aligned numbers. */
  num?: boolean;
  /** Read by screen readers only (an actions column). */
  hidden?: boolean;
}

/** A table that scrolls sideways and turns into stacked cards on phones, with its header row. */
export function Table({ columns, children, className = '', testId }: { columns: (Column | false)[]; children: ReactNode; className?: string; testId?: string }) {
  return (
    <div className="table-wrap">
      <table className={`responsive ${className}`.trim()} data-testid={testId}>
        <thead>
          <tr>
            {columns.filter((c): c is Column => c !== false).map((c) => (
              <th key={c.label} scope="col" className={c.num ? 'num' : undefined}>
                {c.hidden ? <span className="sr-only">{c.label}</span> : c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export type Tone = 'good' | 'warn' | 'bad' | 'muted' | 'info';
export function Badge({ tone = 'muted', children }: { tone?: Tone; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

export function Loading({ label }: { label?: string }) {
  const t = useT();
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label ?? t('common.loading')}
    </div>
  );
}

export function EmptyState({ title, body, action }: { title: string; body?: string; action?: ReactNode }) {
  return (
    <div className="empty">
      <div className="empty-icon" aria-hidden="true">
        ◌
      </div>
      <h3>{title}</h3>
      {body && <p>{body}</p>}
      {action}
    </div>
  );
}

/** The API's own message, and what the status means. */
export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const t = useT();
  const message = error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error);
  const title =
    error instanceof ApiError
      ? error.status === 0
        ? t('error.network')
        : error.status === 403
          ? t('error.forbidden')
          : error.status === 404
            ? t('error.notFound')
            : t('error.generic', { status: error.status })
      : t('error.unexpected');
  return (
    <div className="error-box" role="alert">
      <strong>{title}</strong>
      <div className="error-message">{message}</div>
      {onRetry && (
        <Button kind="ghost" onClick={onRetry}>
          {t('common.retry')}
        </Button>
      )}
    </div>
  );
}

/** Loading, error and empty states around a query's data. */
export function QueryView<T>({
  query,
  empty,
  children,
}: {
  query: { data: T | undefined; error: unknown; isLoading: boolean; refetch: () => unknown };
  empty?: (data: T) => ReactNode | null;
  children: (data: T) => ReactNode;
}) {
  if (query.isLoading) return <Loading />;
  if (query.error) return <ErrorBox error={query.error} onRetry={() => query.refetch()} />;
  if (query.data === undefined) return <Loading />;
  const e = empty?.(query.data);
  if (e) return <>{e}</>;
  return <>{children(query.data)}</>;
}

function useDialog(open: boolean) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      if (typeof d.showModal === 'function') d.showModal();
      else d.setAttribute('open', '');
    }
    if (!open && d.open) {
      if (typeof d.close === 'function') d.close();
      else d.removeAttribute('open');
    }
  }, [open]);
  return ref;
}

function DialogHead({ id, title, onClose }: { id: string; title: string; onClose: () => void }) {
  const t = useT();
  return (
    <header className="modal-head">
      <h2 id={id}>{title}</h2>
      <button type="button" className="icon-btn" aria-label={t('common.close')} onClick={onClose}>
        ×
      </button>
    </header>
  );
}

export function Modal({
  open,
  title,
  onClose,
  children,
  footer,
  wide,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
}) {
  const ref = useDialog(open);
  const titleId = useId();
  if (!open) return null;
  return (
    <dialog ref={ref} className={`modal ${wide ? 'wide' : ''}`} aria-labelledby={titleId} onCancel={(e) => (e.preventDefault(), onClose())}>
      <DialogHead id={titleId} title={title} onClose={onClose} />
      <div className="modal-body">{children}</div>
      {footer && <footer className="modal-foot">{footer}</footer>}
    </dialog>
  );
}

export function Drawer({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ReactNode }) {
  const ref = useDialog(open);
  const titleId = useId();
  if (!open) return null;
  return (
    <dialog ref={ref} className="drawer" aria-labelledby={titleId} onCancel={(e) => (e.preventDefault(), onClose())}>
      <DialogHead id={titleId} title={title} onClose={onClose} />
      <div className="modal-body">{children}</div>
    </dialog>
  );
}

/** A destructive action's confirmation; the confirm button shows progress and errors stay visible. */
export function Confirm({
  open,
  title,
  body,
  confirmLabel,
  onConfirm,
  onClose,
  busy,
  error,
}: {
  open: boolean;
  title: string;
  body: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
  busy?: boolean;
  error?: unknown;
}) {
  const t = useT();
  return (
    <Modal
      open={open}
      title={title}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button kind="danger" busy={busy} onClick={onConfirm}>
            {confirmLabel}
          </Button>
        </>
      }
    >
      <p>{body}</p>
      {error ? <ErrorBox error={error} /> : null}
    </Modal>
  );
}

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Fallback for insecure origins: a hidden textarea and execCommand.
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand?.('copy') ?? false;
    ta.remove();
    return ok;
  }
}

export function CopyButton({ text, label }: { text: string; label?: string }) {
  const t = useT();
  const [state, setState] = useState<'idle' | 'done' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const id = setTimeout(() => setState('idle'), 2000);
    return () => clearTimeout(id);
  }, [state]);
  return (
    <Button kind="secondary" onClick={async () => setState((await copyText(text)) ? 'done' : 'failed')}>
      <span aria-live="polite">{state === 'done' ? t('common.copied') : state === 'failed' ? t('common.copyFailed') : (label ?? t('common.copy'))}</span>
    </Button>
  );
}

export function Pager({ page, pageSize, total, onPage }: { page: number; pageSize: number; total: number; onPage: (p: number) => void }) {
  const t = useT();
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <nav className="pager" aria-label={t('common.pagination')}>
      <Button kind="ghost" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        ‹ {t('common.prev')}
      </Button>
      <span>{t('common.pageOf', { page, pages, total })}</span>
      <Button kind="ghost" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        {t('common.next')} ›
      </Button>
    </nav>
  );
}

/** Client-side paging of a list the API returns whole. */
export function usePaged<T>(items: T[], pageSize = 25) {
  const [page, setPage] = useState(1);
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const current = Math.min(page, pages);
  return {
    page: current,
    setPage,
    pageSize,
    total: items.length,
    rows: items.slice((current - 1) * pageSize, current * pageSize),
  };
}
