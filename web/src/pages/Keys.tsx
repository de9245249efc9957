// Gateway keys: list (members see their own), create (the full key shown once, with copy and
// snippets for every client), edit limits / allow-lists / expiry, enable or disable, revoke.
import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useApp } from '../app-state';
import { useI18n } from '../i18n';
import { fetchers, keys } from '../api/queries';
import { PageHeader } from '../components/Layout';
import { Badge, Button, Card, Checkbox, Confirm, CopyButton, EmptyState, ErrorBox, Modal, Pager, QueryView, TextField, usePaged, Table } from '../components/ui';
import { formatDateTime, formatNumber, formatRelative, formatUsd, parseList, splitList } from '../format';
import { snippets } from '../snippets';
import type { CreatedKey, GatewayKey, KeyInput } from '../api/types';

export default function Keys() {
  const { t } = useI18n();
  const api = useApi();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [editing, setEditing] = useState<GatewayKey | null>(null);
  const [revoking, setRevoking] = useState<GatewayKey | null>(null);
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: keys.gatewayKeys, queryFn: () => fetchers.gatewayKeys(api) });
  const revoke = useMutation({
    mutationFn: (k: GatewayKey) => api.delete(`/api/agg-token/${k.id}`),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: keys.gatewayKeys });
      setRevoking(null);
    },
  });
  const toggle = useMutation({
    mutationFn: (k: GatewayKey) => api.put(`/api/agg-token/${k.id}`, { enabled: !k.enabled }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.gatewayKeys }),
  });
  const paged = usePaged(list.data ?? [], 25);
  return (
    <>
      <PageHeader
        title={t('keys.title')}
        subtitle={t('keys.subtitle')}
        actions={
          <Button kind="primary" onClick={() => setCreating(true)}>
            + {t('keys.create')}
          </Button>
        }
      />
      {creating && (
        <KeyForm
          onClose={() => setCreating(false)}
          onCreated={(k) => {
            setCreating(false);
            setCreated(k);
          }}
        />
      )}
      {editing && <KeyForm existing={editing} onClose={() => setEditing(null)} />}
      {created && <ShowOnce created={created} onClose={() => setCreated(null)} />}
      <Confirm
        open={revoking !== null}
        title={t('keys.revokeTitle', { name: revoking?.name || revoking?.key_hint || '' })}
        body={t('keys.revokeBody')}
        confirmLabel={t('keys.revoke')}
        busy={revoke.isPending}
        error={revoke.error}
        onConfirm={() => revoking && revoke.mutate(revoking)}
        onClose={() => setRevoking(null)}
      />
      {toggle.error && <ErrorBox error={toggle.error} />}
      <Card>
        <QueryView
          query={list}
          empty={(d) =>
            d.length === 0 ? (
              <EmptyState
                title={t('keys.empty')}
                body={t('keys.emptyBody')}
                action={
                  <Button kind="primary" onClick={() => setCreating(true)}>
                    {t('keys.createFirst')}
                  </Button>
                }
              />
            ) : null
          }
        >
          {() => (
            <>
              <KeyTable rows={paged.rows} onEdit={setEditing} onRevoke={setRevoking} onToggle={(k) => toggle.mutate(k)} />
              <Pager page={paged.page} pageSize={paged.pageSize} total={paged.total} onPage={paged.setPage} />
            </>
          )}
        </QueryView>
      </Card>
    </>
  );
}

function KeyTable({
  rows,
  onEdit,
  onRevoke,
  onToggle,
}: {
  rows: GatewayKey[];
  onEdit: (k: GatewayKey) => void;
  onRevoke: (k: GatewayKey) => void;
  onToggle: (k: GatewayKey) => void;
}) {
  const { t, lang } = useI18n();
  const now = Date.now();
  return (
    <Table columns={[{ label: t('common.name') }, { label: t('common.status') }, { label: t('keys.usage') }, { label: t('keys.restrictions') }, { label: t('keys.lastUsed') }, { label: t('common.actions'), hidden: true }]} testId="keys-table">
          {rows.map((k) => {
            const expired = k.expires_at !== null && k.expires_at <= now;
            const models = parseList(k.allowed_models);
            const ips = parseList(k.allowed_ips);
            return (
              <tr key={k.id}>
                <td data-label={t('common.name')}>
                  <span className="strong">{k.name || t('keys.unnamed')}</span>
                  <div className="muted small">
                    <code>{k.key_hint}</code>
                  </div>
                </td>
                <td data-label={t('common.status')}>
                  {expired ? <Badge tone="bad">{t('keys.expired')}</Badge> : <Badge tone={k.enabled ? 'good' : 'muted'}>{k.enabled ? t('common.enabled') : t('common.disabled')}</Badge>}
                  {k.expires_at && !expired && <div className="muted small">{t('keys.expiresIn', { when: formatRelative(k.expires_at, lang) })}</div>}
                </td>
                <td data-label={t('keys.usage')}>
                  {formatNumber(k.used_requests, lang)}
                  {k.request_limit !== null && ` / ${formatNumber(k.request_limit, lang)}`} {t('keys.requestsUnit')}
                  <div className="muted small">
                    {formatUsd(k.used_cost_usd, lang)}
                    {k.cost_limit_usd !== null && ` / ${formatUsd(k.cost_limit_usd, lang)}`}
                  </div>
                </td>
                <td data-label={t('keys.restrictions')}>
                  {models.length === 0 && ips.length === 0 && <span className="muted">{t('keys.noRestrictions')}</span>}
                  {models.length > 0 && <div className="small">{t('keys.modelsN', { list: models.join(', ') })}</div>}
                  {ips.length > 0 && <div className="small">{t('keys.ipsN', { list: ips.join(', ') })}</div>}
                </td>
                <td data-label={t('keys.lastUsed')}>{formatRelative(k.last_used_at, lang)}</td>
                <td className="row-actions">
                  <Button kind="ghost" onClick={() => onEdit(k)}>
                    {t('common.edit')}
                  </Button>
                  <Button kind="ghost" onClick={() => onToggle(k)}>
                    {k.enabled ? t('common.disable') : t('common.enable')}
                  </Button>
                  <Button kind="ghost" onClick={() => onRevoke(k)}>
                    {t('keys.revoke')}
                  </Button>
                </td>
              </tr>
            );
          })}
        </Table>
  );
}

const toDateInput = (ms: number | null) => (ms ? new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16) : '');

function KeyForm({ existing, onClose, onCreated }: { existing?: GatewayKey; onClose: () => void; onCreated?: (k: CreatedKey) => void }) {
  const { t } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [name, setName] = useState(existing?.name ?? '');
  const [models, setModels] = useState(parseList(existing?.allowed_models).join(', '));
  const [ips, setIps] = useState(parseList(existing?.allowed_ips).join(', '));
  const [requestLimit, setRequestLimit] = useState(existing?.request_limit?.toString() ?? '');
  const [costLimit, setCostLimit] = useState(existing?.cost_limit_usd?.toString() ?? '');
  const [expires, setExpires] = useState(toDateInput(existing?.expires_at ?? null));
  const [enabled, setEnabled] = useState(existing ? existing.enabled === 1 : true);
  const save = useMutation({
    mutationFn: () => {
      const body: KeyInput = {
        name: name.trim(),
        models: splitList(models),
        allowed_ips: splitList(ips),
      };
      if (requestLimit.trim()) body.request_limit = Number(requestLimit);
      if (costLimit.trim()) body.cost_limit_usd = Number(costLimit);
      if (expires) body.expires_at = new Date(expires).getTime();
      if (existing) return api.put<unknown>(`/api/agg-token/${existing.id}`, { ...body, enabled });
      return api.post<CreatedKey>('/api/agg-token/', body);
    },
    onSuccess: async (data) => {
      await queryClient.invalidateQueries({ queryKey: keys.gatewayKeys });
      if (existing) onClose();
      else onCreated?.(data as CreatedKey);
    },
  });
  return (
    <Modal
      open
      title={existing ? t('keys.edit') : t('keys.create')}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button kind="primary" type="submit" form="key-form" busy={save.isPending}>
            {existing ? t('common.save') : t('keys.createSubmit')}
          </Button>
        </>
      }
    >
      <form
        id="key-form"
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <TextField label={t('common.name')} placeholder={t('keys.namePlaceholder')} value={name} onChange={(e) => setName(e.target.value)} />
        <TextField label={t('keys.models')} placeholder="gpt-4o*, claude-*" value={models} onChange={(e) => setModels(e.target.value)} hint={t('keys.modelsHint')} />
        <TextField label={t('keys.ips')} placeholder="203.0.113.0/24" value={ips} onChange={(e) => setIps(e.target.value)} hint={t('keys.ipsHint')} />
        <div className="grid-form">
          <TextField label={t('keys.requestLimit')} type="number" min={0} step={1} value={requestLimit} onChange={(e) => setRequestLimit(e.target.value)} hint={t('keys.blankUnlimited')} />
          <TextField label={t('keys.costLimit')} type="number" min={0} step="0.01" value={costLimit} onChange={(e) => setCostLimit(e.target.value)} hint={t('keys.blankUnlimited')} />
        </div>
        <TextField label={t('keys.expires')} type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} hint={t('keys.blankNever')} />
        {existing && <Checkbox label={t('common.enabled')} checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />}
        {save.error && <ErrorBox error={save.error} />}
      </form>
    </Modal>
  );
}

function ShowOnce({ created, onClose }: { created: CreatedKey; onClose: () => void }) {
  const { t } = useI18n();
  const { gatewayUrl } = useApp();
  const all = snippets(gatewayUrl, created.key);
  const [tab, setTab] = useState(all[0].id);
  const current = all.find((s) => s.id === tab) ?? all[0];
  return (
    <Modal open title={t('keys.createdTitle')} onClose={onClose} wide footer={<Button kind="primary" onClick={onClose}>{t('keys.stored')}</Button>}>
      <p className="warn-text">{t('keys.shownOnce')}</p>
      <div className="key-reveal">
        <code data-testid="new-key">{created.key}</code>
        <CopyButton text={created.key} />
      </div>
      <h3>{t('keys.snippets')}</h3>
      <p className="muted small">{t('keys.gatewayUrl', { url: gatewayUrl })}</p>
      <div className="tabs small-tabs" role="tablist" aria-label={t('keys.snippets')}>
        {all.map((s) => (
          <button key={s.id} type="button" role="tab" aria-selected={s.id === tab} onClick={() => setTab(s.id)}>
            {s.label}
          </button>
        ))}
      </div>
      <div className="snippet" role="tabpanel">
        <pre>
          <code>{current.code}</code>
        </pre>
        <CopyButton text={current.code} />
      </div>
      <p className="muted small">{t('keys.createdAt', { when: formatDateTime(Date.now()) })}</p>
    </Modal>
  );
}
