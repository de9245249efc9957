// One station: its settings and actions, then tabs for accounts (health, balance, enable /
// disable, add, delete), upstream keys, models with their channels, dialects (platform
// defaults or an override) and history (balance trend, check-ins).
import { lazy, Suspense, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi } from '../app-state';
import { useI18n } from '../i18n';
import { fetchers, keys } from '../api/queries';
import { PageHeader } from '../components/Layout';
import { Badge, Button, Card, Checkbox, Confirm, EmptyState, ErrorBox, Loading, Modal, QueryView, SelectField, TextField, Table, SubmitRow } from '../components/ui';
import { CheckinOutcome, HealthBadge, OnOff } from '../components/badges';
import { EditStation } from '../components/StationForm';
import { StationActions } from '../components/SyncButtons';
import { CredentialFields, emptyCredential, type CredentialValues } from '../components/CredentialFields';
import { DIALECTS, PLATFORM_LABELS, credentialBody } from '../platforms';
import { formatDateTime, formatNumber, formatRelative, formatUsd } from '../format';
import type { Account, DialectRoute, Station } from '../api/types';

const BalanceChart = lazy(() => import('../components/BalanceChart'));

type Tab = 'accounts' | 'keys' | 'models' | 'dialects' | 'history';

export default function StationDetail() {
  const { t, lang } = useI18n();
  const api = useApi();
  const id = Number(useParams().id);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [tab, setTab] = useState<Tab>('accounts');
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const detail = useQuery({ queryKey: keys.station(id), queryFn: () => fetchers.station(api, id) });
  const remove = useMutation({
    mutationFn: () => api.delete(`/api/provider/${id}`),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: keys.stations });
      await queryClient.invalidateQueries({ queryKey: keys.routes });
      navigate('/stations');
    },
  });

  return (
    <QueryView query={detail}>
      {({ station, accounts }) => (
        <>
          <PageHeader
            title={station.name}
            subtitle={`${PLATFORM_LABELS[station.platform] ?? station.platform} · ${station.base_url}`}
            actions={
              <>
                <Button onClick={() => setEditing(true)}>{t('common.edit')}</Button>
                <Button kind="danger" onClick={() => setDeleting(true)}>
                  {t('common.delete')}
                </Button>
              </>
            }
          />
          <EditStation key={station.updated_at} station={station} open={editing} onClose={() => setEditing(false)} />
          <Confirm
            open={deleting}
            title={t('stations.deleteTitle', { name: station.name })}
            body={t('stations.deleteBody')}
            confirmLabel={t('common.delete')}
            busy={remove.isPending}
            error={remove.error}
            onConfirm={() => remove.mutate()}
            onClose={() => setDeleting(false)}
          />
          <div className="stats">
            <div className="stat">
              <div className="stat-label">{t('common.status')}</div>
              <div className="stat-value">
                <OnOff on={station.enabled === 1} />
              </div>
            </div>
            <div className="stat">
              <div className="stat-label">{t('stations.lastSync')}</div>
              <div className="stat-value small-value">{formatRelative(station.last_synced_at, lang)}</div>
              {station.last_sync_error && <div className="stat-sub bad">{station.last_sync_error}</div>}
            </div>
            <div className="stat">
              <div className="stat-label">{t('stations.quotaUnit')}</div>
              <div className="stat-value small-value">{station.quota_per_unit ? formatNumber(station.quota_per_unit, lang) : '—'}</div>
            </div>
            <div className="stat">
              <div className="stat-label">
                {t('routes.priority')} / {t('routes.weight')}
              </div>
              <div className="stat-value small-value">
                {station.priority} / {station.weight}
              </div>
            </div>
          </div>
          <Card>
            <StationActions id={station.id} />
          </Card>
          <div className="tabs" role="tablist" aria-label={t('stations.sections')}>
            {(['accounts', 'keys', 'models', 'dialects', 'history'] as Tab[]).map((k) => (
              <button key={k} type="button" role="tab" aria-selected={tab === k} onClick={() => setTab(k)}>
                {t(`stations.tab.${k}`)}
              </button>
            ))}
          </div>
          <div role="tabpanel">
            {tab === 'accounts' && <Accounts station={station} accounts={accounts} />}
            {tab === 'keys' && <UpstreamKeys id={station.id} accounts={accounts} />}
            {tab === 'models' && <StationModels id={station.id} />}
            {tab === 'dialects' && <Dialects station={station} />}
            {tab === 'history' && <History id={station.id} />}
          </div>
        </>
      )}
    </QueryView>
  );
}

function Accounts({ station, accounts }: { station: Station; accounts: Account[] }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Account | null>(null);
  const refresh = () => Promise.all([queryClient.invalidateQueries({ queryKey: keys.station(station.id) }), queryClient.invalidateQueries({ queryKey: keys.routes })]);
  const toggle = useMutation({
    mutationFn: (a: Account) => api.post(`/api/provider/${station.id}/accounts/${a.id}/${a.enabled ? 'disable' : 'enable'}`),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (a: Account) => api.delete(`/api/provider/${station.id}/accounts/${a.id}`),
    onSuccess: async () => {
      await refresh();
      setRemoving(null);
    },
  });
  return (
    <Card
      title={t('stations.tab.accounts')}
      actions={
        <Button kind="primary" onClick={() => setAdding(true)}>
          + {t('accounts.add')}
        </Button>
      }
    >
      <AddAccount station={station} open={adding} onClose={() => setAdding(false)} />
      <Confirm
        open={removing !== null}
        title={t('accounts.deleteTitle', { name: removing?.name || `#${removing?.id}` })}
        body={t('accounts.deleteBody')}
        confirmLabel={t('common.delete')}
        busy={remove.isPending}
        error={remove.error}
        onConfirm={() => removing && remove.mutate(removing)}
        onClose={() => setRemoving(null)}
      />
      {toggle.error && <ErrorBox error={toggle.error} />}
      {accounts.length === 0 ? (
        <EmptyState title={t('accounts.empty')} />
      ) : (
        <Table columns={[{ label: t('common.name') }, { label: t('stations.health') }, { label: t('stations.balance'), num: true }, { label: t('accounts.used'), num: true }, { label: t('accounts.group') }, { label: t('stations.checkinEnabled') }, { label: t('common.actions'), hidden: true }]}>
              {accounts.map((a) => (
                <tr key={a.id}>
                  <td data-label={t('common.name')}>
                    <span className="strong">{a.name || `#${a.id}`}</span>
                    <div className="muted small">{t(`credential.${a.credential_kind}` as 'credential.api_key')}</div>
                  </td>
                  <td data-label={t('stations.health')}>
                    <HealthBadge health={a.health} />
                    {a.health_reason && <div className="muted small">{a.health_reason}</div>}
                  </td>
                  <td data-label={t('stations.balance')} className="num">
                    {formatUsd(a.balance_usd, lang)}
                    <div className="muted small">{formatRelative(a.balance_updated_at, lang)}</div>
                  </td>
                  <td data-label={t('accounts.used')} className="num">
                    {formatUsd(a.used_usd, lang)}
                  </td>
                  <td data-label={t('accounts.group')}>{a.panel_group || '—'}</td>
                  <td data-label={t('stations.checkinEnabled')}>
                    <OnOff on={a.checkin_enabled === 1} />
                  </td>
                  <td className="row-actions">
                    <Button kind="ghost" busy={toggle.isPending && toggle.variables?.id === a.id} onClick={() => toggle.mutate(a)}>
                      {a.enabled ? t('common.disable') : t('common.enable')}
                    </Button>
                    <Button kind="ghost" onClick={() => setRemoving(a)}>
                      {t('common.delete')}
                    </Button>
                  </td>
                </tr>
              ))}
            </Table>
      )}
    </Card>
  );
}

function AddAccount({ station, open, onClose }: { station: Station; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [cred, setCred] = useState<CredentialValues>(emptyCredential(station.platform));
  const [checkin, setCheckin] = useState(station.checkin_enabled === 1);
  const add = useMutation({
    mutationFn: () => api.post(`/api/provider/${station.id}/accounts`, { name: name.trim(), checkin_enabled: checkin, ...credentialBody(cred.kind, cred) }),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: keys.station(station.id) });
      setName('');
      setCred(emptyCredential(station.platform));
      onClose();
    },
  });
  return (
    <Modal
      open={open}
      title={t('accounts.add')}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button kind="primary" type="submit" form="add-account" busy={add.isPending}>
            {t('common.add')}
          </Button>
        </>
      }
    >
      <form
        id="add-account"
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          add.mutate();
        }}
      >
        <TextField label={t('common.name')} value={name} onChange={(e) => setName(e.target.value)} />
        <CredentialFields platform={station.platform} value={cred} onChange={setCred} />
        <Checkbox label={t('stations.checkinEnabled')} checked={checkin} onChange={(e) => setCheckin(e.target.checked)} />
        {add.error && <ErrorBox error={add.error} />}
      </form>
    </Modal>
  );
}

function UpstreamKeys({ id, accounts }: { id: number; accounts: Account[] }) {
  const { t } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const list = useQuery({ queryKey: keys.stationKeys(id), queryFn: () => fetchers.stationKeys(api, id) });
  const enable = useMutation({
    mutationFn: (accountId: number) => api.post(`/api/provider/${id}/accounts/${accountId}/enable`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['stations', id] }),
  });
  const enableKey = useMutation({
    mutationFn: (keyId: number) => api.post(`/api/provider/${id}/tokens/${keyId}/enable`),
    onSettled: () => Promise.all([queryClient.invalidateQueries({ queryKey: ['stations', id] }), queryClient.invalidateQueries({ queryKey: keys.routes })]),
  });
  const accountName = (aid: number) => accounts.find((a) => a.id === aid)?.name || `#${aid}`;
  return (
    <Card title={t('stations.tab.keys')}>
      {enable.error && <ErrorBox error={enable.error} />}
      {enableKey.error && <ErrorBox error={enableKey.error} />}
      <QueryView query={list} empty={(d) => (d.length === 0 ? <EmptyState title={t('upstreamKeys.empty')} body={t('upstreamKeys.emptyBody')} /> : null)}>
        {(rows) => (
          <Table columns={[{ label: t('common.name') }, { label: t('upstreamKeys.key') }, { label: t('common.status') }, { label: t('accounts.account') }, { label: t('accounts.group') }, { label: t('upstreamKeys.channels'), num: true }]}>
                {rows.map((k) => (
                  <tr key={k.id}>
                    <td data-label={t('common.name')}>
                      {k.name || '—'}
                      <div className="muted small">{k.source}</div>
                    </td>
                    <td data-label={t('upstreamKeys.key')}>
                      <code>{k.key_hint}</code>
                    </td>
                    <td data-label={t('common.status')}>
                      <Badge tone={k.status === 'active' ? 'good' : 'bad'}>{k.status}</Badge>
                      {k.status_reason && <div className="muted small">{k.status_reason}</div>}
                      {k.status !== 'active' && (
                        <Button kind="ghost" busy={enableKey.isPending && enableKey.variables === k.id} onClick={() => enableKey.mutate(k.id)}>
                          {t('upstreamKeys.enableKey')}
                        </Button>
                      )}
                    </td>
                    <td data-label={t('accounts.account')}>
                      {accountName(k.account_id)}
                      {!k.account_enabled && (
                        <Button kind="ghost" busy={enable.isPending} onClick={() => enable.mutate(k.account_id)}>
                          {t('upstreamKeys.reenable')}
                        </Button>
                      )}
                    </td>
                    <td data-label={t('accounts.group')}>{k.group_name || '—'}</td>
                    <td data-label={t('upstreamKeys.channels')} className="num">
                      {k.routes}
                    </td>
                  </tr>
                ))}
              </Table>
        )}
      </QueryView>
    </Card>
  );
}

function StationModels({ id }: { id: number }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const models = useQuery({ queryKey: keys.stationModels(id), queryFn: () => fetchers.stationModels(api, id) });
  const routes = useQuery({ queryKey: keys.routes, queryFn: () => fetchers.routes(api) });
  const price = (v: number | null) => (v === null ? '—' : formatUsd(v, lang));
  return (
    <Card title={t('stations.tab.models')}>
      <QueryView query={models} empty={(d) => (d.length === 0 ? <EmptyState title={t('stations.noModels')} body={t('stations.noModelsBody')} /> : null)}>
        {(rows) => (
          <Table columns={[{ label: t('logs.model') }, { label: t('models.billing') }, { label: t('models.input'), num: true }, { label: t('models.output'), num: true }, { label: t('models.cacheRead'), num: true }, { label: t('models.perCall'), num: true }, { label: t('upstreamKeys.channels') }]} testId="station-models">
                {rows.map((m) => {
                  const channels = (routes.data ?? []).filter((r) => r.station_id === id && r.upstream_model === m.model);
                  const live = channels.filter((r) => r.enabled && r.key_status === 'active' && !r.cooldown?.cooling).length;
                  return (
                    <tr key={m.model}>
                      <td data-label={t('logs.model')}>
                        <code>{m.model}</code>
                      </td>
                      <td data-label={t('models.billing')}>{m.billing === 'tokens' ? t('models.perToken') : m.billing === 'per_call' ? t('models.perCallBilling') : t('health.unknown')}</td>
                      <td data-label={t('models.input')} className="num">
                        {price(m.input_usd_per_mtok)}
                      </td>
                      <td data-label={t('models.output')} className="num">
                        {price(m.output_usd_per_mtok)}
                      </td>
                      <td data-label={t('models.cacheRead')} className="num">
                        {price(m.cache_read_usd_per_mtok)}
                      </td>
                      <td data-label={t('models.perCall')} className="num">
                        {price(m.usd_per_call)}
                      </td>
                      <td data-label={t('upstreamKeys.channels')}>{routes.data ? t('stations.channelsLive', { live, total: m.channels }) : m.channels}</td>
                    </tr>
                  );
                })}
              </Table>
        )}
      </QueryView>
    </Card>
  );
}

function Dialects({ station }: { station: Station }) {
  const { t } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [rows, setRows] = useState<DialectRoute[]>(station.dialects ?? []);
  const [custom, setCustom] = useState(station.dialects !== null);
  const save = useMutation({
    mutationFn: () =>
      api.put(`/api/provider/${station.id}`, {
        dialects: custom ? rows.map((r) => ({ dialect: r.dialect, ...(r.prefix?.trim() ? { prefix: r.prefix.trim() } : {}) })) : null,
      }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.station(station.id) }),
  });
  const update = (i: number, patch: Partial<DialectRoute>) => setRows(rows.map((r, j) => (i === j ? { ...r, ...patch } : r)));
  return (
    <Card title={t('stations.tab.dialects')}>
      <p className="muted">{t('dialects.explain')}</p>
      <DialectFacts id={station.id} />
      <div className="segmented" role="radiogroup" aria-label={t('stations.tab.dialects')}>
        <button type="button" role="radio" aria-checked={!custom} onClick={() => setCustom(false)}>
          {t('dialects.defaults')}
        </button>
        <button
          type="button"
          role="radio"
          aria-checked={custom}
          onClick={() => {
            setCustom(true);
            if (rows.length === 0) setRows([{ dialect: 'openai-chat', prefix: '' }]);
          }}
        >
          {t('dialects.override')}
        </button>
      </div>
      {custom && (
        <div className="form">
          {rows.map((r, i) => (
            <div className="field-row" key={i}>
              <SelectField
                label={i === 0 ? t('dialects.primary') : t('dialects.dialect')}
                value={r.dialect}
                onChange={(e) => update(i, { dialect: e.target.value })}
                options={DIALECTS.map((d) => ({ value: d, label: d }))}
              />
              <TextField label={t('dialects.prefix')} placeholder={r.dialect === 'gemini' ? '/v1beta' : '/v1'} value={r.prefix ?? ''} onChange={(e) => update(i, { prefix: e.target.value })} />
              <Button kind="ghost" aria-label={t('common.remove')} onClick={() => setRows(rows.filter((_, j) => j !== i))}>
                ×
              </Button>
            </div>
          ))}
          <div>
            <Button kind="ghost" onClick={() => setRows([...rows, { dialect: DIALECTS.find((d) => !rows.some((r) => r.dialect === d)) ?? 'openai-chat', prefix: '' }])}>
              + {t('dialects.addRow')}
            </Button>
          </div>
        </div>
      )}
      <SubmitRow mutation={save} label={t('common.save')} onClick={() => save.mutate()} />
    </Card>
  );
}

/** The platform's defaults and what the relay learned the station lacks (with a way to forget it). */
function DialectFacts({ id }: { id: number }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [forgetting, setForgetting] = useState(false);
  const facts = useQuery({ queryKey: keys.dialects(id), queryFn: () => fetchers.dialects(api, id) });
  const forget = useMutation({
    mutationFn: () => api.delete(`/api/provider/${id}/dialects/learned`),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: keys.dialects(id) });
      setForgetting(false);
    },
  });
  return (
    <QueryView query={facts}>
      {(d) => (
        <div className="grid-2 facts">
          <div>
            <h3>{t('dialects.platformDefaults')}</h3>
            <ul className="chips">
              {d.defaults.map((r) => (
                <li key={r.dialect} className="chip">
                  <code>{r.dialect}</code>
                  <span className="muted small">{r.prefix}</span>
                </li>
              ))}
            </ul>
            <p className="muted small">{d.override ? t('dialects.appliesOverride') : t('dialects.appliesDefaults')}</p>
          </div>
          <div>
            <h3>{t('dialects.learned')}</h3>
            {d.learned.length === 0 ? (
              <p className="muted">{t('dialects.noLearned')}</p>
            ) : (
              <>
                <ul className="list">
                  {d.learned.map((f) => (
                    <li key={f.missing}>
                      <Badge tone="warn">{t('dialects.lacks', { dialect: f.missing })}</Badge>
                      <span className="muted small">{t('dialects.recheck', { when: formatRelative(f.recheck_after, lang) })}</span>
                      {f.evidence && <span className="small">{f.evidence}</span>}
                    </li>
                  ))}
                </ul>
                <Button kind="ghost" onClick={() => setForgetting(true)}>
                  {t('dialects.forget')}
                </Button>
              </>
            )}
          </div>
          <Confirm
            open={forgetting}
            title={t('dialects.forget')}
            body={t('dialects.forgetBody')}
            confirmLabel={t('dialects.forget')}
            busy={forget.isPending}
            error={forget.error}
            onConfirm={() => forget.mutate()}
            onClose={() => setForgetting(false)}
          />
        </div>
      )}
    </QueryView>
  );
}

function History({ id }: { id: number }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const balance = useQuery({ queryKey: keys.balance(id), queryFn: () => fetchers.balance(api, id) });
  const checkins = useQuery({ queryKey: keys.checkins(id), queryFn: () => fetchers.checkins(api, id) });
  return (
    <div className="grid-2">
      <Card title={t('history.balance')}>
        <QueryView query={balance} empty={(d) => (d.every((a) => a.points.length === 0) ? <p className="muted">{t('history.noBalance')}</p> : null)}>
          {(data) => (
            <Suspense fallback={<Loading />}>
              <BalanceChart history={data} />
            </Suspense>
          )}
        </QueryView>
      </Card>
      <Card title={t('history.checkins')}>
        <QueryView query={checkins} empty={(d) => (d.length === 0 ? <p className="muted">{t('history.noCheckins')}</p> : null)}>
          {(rows) => (
            <ul className="list">
              {rows.slice(0, 60).map((r) => (
                <li key={`${r.account_id}-${r.day}`}>
                  <span>{r.day}</span>
                  <span className="muted">#{r.account_id}</span>
                  <span className="spacer" />
                  {r.reward_usd ? <span>{formatUsd(r.reward_usd, lang)}</span> : null}
                  <CheckinOutcome outcome={r.outcome} />
                </li>
              ))}
            </ul>
          )}
        </QueryView>
        <p className="muted small">{t('history.updated', { when: formatDateTime(checkins.dataUpdatedAt, lang) })}</p>
      </Card>
    </div>
  );
}
