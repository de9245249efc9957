// Stations: health, balance, quota unit, last sync and check-in, accounts; add (with
// auto-detect), sync or check in from the list. Long lists page on the client; the per-row
// details are fetched only for the rows shown.
import { useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useQueries, useQuery } from '@tanstack/react-query';
import { useApi } from '../app-state';
import { useI18n } from '../i18n';
import { fetchers, keys, stationBalance, stationHealth } from '../api/queries';
import { PageHeader } from '../components/Layout';
import { Button, Card, EmptyState, Pager, QueryView, usePaged, Table } from '../components/ui';
import { HealthBadge, CheckinOutcome, OnOff } from '../components/badges';
import { AddStation } from '../components/StationForm';
import { StationActions } from '../components/SyncButtons';
import { PLATFORM_LABELS } from '../platforms';
import { formatNumber, formatRelative, formatUsd } from '../format';
import type { Station } from '../api/types';

export default function Stations() {
  const { t } = useI18n();
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const [filter, setFilter] = useState('');
  const stations = useQuery({ queryKey: keys.stations, queryFn: () => fetchers.stations(api) });
  const adding = params.get('add') === '1';
  const setAdding = (on: boolean) => setParams(on ? { add: '1' } : {}, { replace: true });
  const filtered = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return (stations.data ?? []).filter((s) => !f || s.name.toLowerCase().includes(f) || s.base_url.toLowerCase().includes(f) || s.platform.includes(f));
  }, [stations.data, filter]);
  const paged = usePaged(filtered, 20);

  return (
    <>
      <PageHeader
        title={t('stations.title')}
        subtitle={t('stations.subtitle')}
        actions={
          <Button kind="primary" onClick={() => setAdding(true)}>
            + {t('stations.add')}
          </Button>
        }
      />
      <AddStation open={adding} onClose={() => setAdding(false)} />
      <Card>
        <QueryView
          query={stations}
          empty={(data) =>
            data.length === 0 ? (
              <EmptyState
                title={t('stations.empty')}
                body={t('stations.emptyBody')}
                action={
                  <Button kind="primary" onClick={() => setAdding(true)}>
                    {t('stations.addFirst')}
                  </Button>
                }
              />
            ) : null
          }
        >
          {() => (
            <>
              <div className="toolbar">
                <input type="search" aria-label={t('common.search')} placeholder={t('stations.search')} value={filter} onChange={(e) => setFilter(e.target.value)} />
              </div>
              <StationTable rows={paged.rows} />
              <Pager page={paged.page} pageSize={paged.pageSize} total={paged.total} onPage={paged.setPage} />
            </>
          )}
        </QueryView>
      </Card>
    </>
  );
}

function StationTable({ rows }: { rows: Station[] }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const details = useQueries({ queries: rows.map((s) => ({ queryKey: keys.station(s.id), queryFn: () => fetchers.station(api, s.id) })) });
  const checkins = useQueries({ queries: rows.map((s) => ({ queryKey: keys.checkins(s.id), queryFn: () => fetchers.checkins(api, s.id) })) });
  return (
    <Table columns={[{ label: t('common.name') }, { label: t('stations.health') }, { label: t('stations.balance'), num: true }, { label: t('stations.quotaUnit') }, { label: t('stations.lastSync') }, { label: t('stations.lastCheckin') }, { label: t('stations.accounts'), num: true }, { label: t('common.actions'), hidden: true }]}>
          {rows.map((s, i) => {
            const detail = details[i].data;
            const last = checkins[i].data?.[0];
            return (
              <tr key={s.id}>
                <td data-label={t('common.name')}>
                  <Link to={`/stations/${s.id}`} className="strong">
                    {s.name}
                  </Link>
                  <div className="muted small">
                    {PLATFORM_LABELS[s.platform] ?? s.platform} · {s.base_url}
                  </div>
                  {!s.enabled && <OnOff on={false} />}
                </td>
                <td data-label={t('stations.health')}>
                  <HealthBadge health={stationHealth(detail)} />
                </td>
                <td data-label={t('stations.balance')} className="num">
                  {formatUsd(stationBalance(detail), lang)}
                </td>
                <td data-label={t('stations.quotaUnit')}>{s.quota_per_unit ? formatNumber(s.quota_per_unit, lang) : '—'}</td>
                <td data-label={t('stations.lastSync')}>
                  {formatRelative(s.last_synced_at, lang)}
                  {s.last_sync_error && (
                    <div className="bad small" title={s.last_sync_error}>
                      {t('stations.syncFailed')}
                    </div>
                  )}
                </td>
                <td data-label={t('stations.lastCheckin')}>{last ? <CheckinOutcome outcome={last.outcome} /> : '—'}</td>
                <td data-label={t('stations.accounts')} className="num">
                  {detail ? detail.accounts.length : '—'}
                </td>
                <td>
                  <StationActions id={s.id} compact />
                </td>
              </tr>
            );
          })}
        </Table>
  );
}
