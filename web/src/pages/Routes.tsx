// Models and routes. Admins: every model's channels (station, key, priority, weight, enabled,
// cooldown and its remaining time) with inline edits, cooldown clear and a route-table rebuild.
// Members: the models they can call, with how many channels serve each.
import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useApp } from '../app-state';
import { useI18n } from '../i18n';
import { fetchers, keys } from '../api/queries';
import { AddStationFirst, PageHeader } from '../components/Layout';
import { Badge, Button, Card, EmptyState, ErrorBox, Pager, QueryView, usePaged, Table } from '../components/ui';
import { formatRelative } from '../format';
import type { RouteEntry } from '../api/types';

export default function RoutesPage() {
  const { isAdmin } = useApp();
  return isAdmin ? <AdminRoutes /> : <MemberModels />;
}

function MemberModels() {
  const { t } = useI18n();
  const api = useApi();
  const models = useQuery({ queryKey: keys.models, queryFn: () => fetchers.models(api) });
  return (
    <>
      <PageHeader title={t('routes.modelsTitle')} subtitle={t('routes.modelsSubtitle')} />
      <Card>
        <QueryView query={models} empty={(d) => (d.length === 0 ? <EmptyState title={t('routes.noModels')} /> : null)}>
          {(rows) => (
            <ul className="chips">
              {rows.map((m) => (
                <li key={m.model} className="chip">
                  <code>{m.model}</code>
                  <span className="muted small">{t('stations.channelsLive', { live: m.enabled_channels, total: m.channels })}</span>
                </li>
              ))}
            </ul>
          )}
        </QueryView>
      </Card>
    </>
  );
}

function AdminRoutes() {
  const { t } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [filter, setFilter] = useState('');
  const [onlyCooling, setOnlyCooling] = useState(false);
  const routes = useQuery({ queryKey: keys.routes, queryFn: () => fetchers.routes(api), refetchInterval: 30_000 });
  const rebuild = useMutation({
    mutationFn: () => api.post<{ models: number; channels: number }>('/api/route/rebuild'),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.routes }),
  });
  const groups = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const byModel = new Map<string, RouteEntry[]>();
    for (const r of routes.data ?? []) {
      if (f && !r.model.toLowerCase().includes(f) && !r.station_name.toLowerCase().includes(f)) continue;
      if (onlyCooling && !r.cooldown?.cooling) continue;
      byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
    }
    return [...byModel.entries()];
  }, [routes.data, filter, onlyCooling]);
  const paged = usePaged(groups, 15);

  return (
    <>
      <PageHeader
        title={t('routes.title')}
        subtitle={t('routes.subtitle')}
        actions={
          <Button busy={rebuild.isPending} onClick={() => rebuild.mutate()}>
            {t('routes.rebuild')}
          </Button>
        }
      />
      {rebuild.data && (
        <p className="result result-good" role="status">
          {t('routes.rebuilt', { models: rebuild.data.models, channels: rebuild.data.channels })}
        </p>
      )}
      {rebuild.error && <ErrorBox error={rebuild.error} />}
      <QueryView
        query={routes}
        empty={(d) =>
          d.length === 0 ? (
            <AddStationFirst title={t('routes.empty')} body={t('routes.emptyBody')} />
          ) : null
        }
      >
        {() => (
          <>
            <div className="toolbar">
              <input type="search" aria-label={t('common.search')} placeholder={t('routes.search')} value={filter} onChange={(e) => setFilter(e.target.value)} />
              <label className="checkbox">
                <input type="checkbox" checked={onlyCooling} onChange={(e) => setOnlyCooling(e.target.checked)} /> {t('routes.onlyCooling')}
              </label>
            </div>
            {paged.rows.map(([model, channels]) => (
              <Card key={model} title={<code>{model}</code>} className="model-card">
                <Table columns={[{ label: t('routes.station') }, { label: t('routes.upstream') }, { label: t('routes.priority') }, { label: t('routes.weight') }, { label: t('common.enabled') }, { label: t('routes.cooldown') }]} testId={`routes-${model}`}>
                      {channels.map((r) => (
                        <ChannelRow key={r.id} route={r} />
                      ))}
                    </Table>
              </Card>
            ))}
            {groups.length === 0 && <p className="muted">{t('common.noMatches')}</p>}
            <Pager page={paged.page} pageSize={paged.pageSize} total={paged.total} onPage={paged.setPage} />
          </>
        )}
      </QueryView>
    </>
  );
}

function ChannelRow({ route }: { route: RouteEntry }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [priority, setPriority] = useState(String(route.priority));
  const [weight, setWeight] = useState(String(route.weight));
  const update = useMutation({
    mutationFn: (change: { priority?: number; weight?: number; enabled?: boolean }) => api.put(`/api/route/${route.id}`, change),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.routes }),
  });
  const clear = useMutation({
    mutationFn: () => api.post(`/api/route/${route.id}/cooldown/clear`),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.routes }),
  });
  const commit = (field: 'priority' | 'weight', raw: string, current: number) => {
    const n = Number(raw);
    if (raw.trim() !== '' && Number.isInteger(n) && n !== current) update.mutate({ [field]: n });
  };
  const cd = route.cooldown;
  return (
    <tr>
      <td data-label={t('routes.station')}>
        <Link to={`/stations/${route.station_id}`}>{route.station_name}</Link>
        <div className="muted small">
          <code>{route.key_hint}</code> {route.key_status !== 'active' && <Badge tone="bad">{route.key_status}</Badge>}
          {route.manual ? <Badge tone="info">{t('routes.manual')}</Badge> : null}
        </div>
      </td>
      <td data-label={t('routes.upstream')}>
        <code>{route.upstream_model}</code>
      </td>
      <td data-label={t('routes.priority')}>
        <input
          className="inline-num"
          type="number"
          min={-1000}
          max={1000}
          aria-label={t('routes.priorityOf', { station: route.station_name })}
          value={priority}
          onChange={(e) => setPriority(e.target.value)}
          onBlur={() => commit('priority', priority, route.priority)}
          onKeyDown={(e) => e.key === 'Enter' && commit('priority', priority, route.priority)}
        />
      </td>
      <td data-label={t('routes.weight')}>
        <input
          className="inline-num"
          type="number"
          min={0}
          max={10000}
          aria-label={t('routes.weightOf', { station: route.station_name })}
          value={weight}
          onChange={(e) => setWeight(e.target.value)}
          onBlur={() => commit('weight', weight, route.weight)}
          onKeyDown={(e) => e.key === 'Enter' && commit('weight', weight, route.weight)}
        />
      </td>
      <td data-label={t('common.enabled')}>
        <label className="switch">
          <input
            type="checkbox"
            role="switch"
            checked={route.enabled === 1}
            aria-label={t('routes.enabledOf', { station: route.station_name })}
            onChange={(e) => update.mutate({ enabled: e.target.checked })}
          />
          <span aria-hidden="true" />
        </label>
        {update.isPending && <span className="spinner" aria-label={t('common.saving')} />}
        {update.error && <div className="bad small">{update.error.message}</div>}
      </td>
      <td data-label={t('routes.cooldown')}>
        {cd?.cooling ? (
          <>
            <Badge tone="warn">{t('routes.coolingUntil', { when: formatRelative(cd.until_ms, lang) })}</Badge>
            <div className="muted small">
              {t('routes.failures', { n: cd.failures })} {cd.last_error ?? ''}
            </div>
            <Button kind="ghost" busy={clear.isPending} onClick={() => clear.mutate()}>
              {t('routes.clearCooldown')}
            </Button>
          </>
        ) : (
          <Badge tone="good">{t('routes.ready')}</Badge>
        )}
        {clear.error && <div className="bad small">{clear.error.message}</div>}
      </td>
    </tr>
  );
}
