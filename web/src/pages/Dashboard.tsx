// Dashboard over a chosen period: totals, traffic/tokens/cost by day, breakdowns by model and
// station, station balances with their trend, today's check-ins, channels cooling down now and
// the recent job runs (failures highlighted).
import { useState } from 'react';
import { Link } from 'react-router';
import { useQueries, useQuery } from '@tanstack/react-query';
import { useApi } from '../app-state';
import { useI18n } from '../i18n';
import { fetchers, keys, stationBalance } from '../api/queries';
import { Badge, Card, EmptyState, ErrorBox, Loading, Stat, Table } from '../components/ui';
import { AddStationFirst, PageHeader } from '../components/Layout';
import { CheckinOutcome, JobStatusBadge } from '../components/badges';
import { Sparkline, TimeChart } from '../components/charts';
import { formatCompact, formatDuration, formatNumber, formatPercent, formatRelative, formatUsd, utcDay } from '../format';
import type { Dashboard as DashboardData } from '../api/types';

const PERIODS = [1, 7, 30, 90];
/** Stations whose balances and check-ins the dashboard reads (one request each). */
const STATION_CAP = 12;

export default function Dashboard() {
  const { t, lang } = useI18n();
  const api = useApi();
  const [days, setDays] = useState(7);
  const dash = useQuery({ queryKey: keys.dashboard(days), queryFn: () => fetchers.dashboard(api, days), staleTime: 0, refetchInterval: 60_000 });
  const stations = useQuery({ queryKey: keys.stations, queryFn: () => fetchers.stations(api) });

  return (
    <>
      <PageHeader
        title={t('dashboard.title')}
        subtitle={t('dashboard.subtitle')}
        actions={
          <div className="segmented" role="group" aria-label={t('dashboard.period')}>
            {PERIODS.map((d) => (
              <button key={d} type="button" aria-pressed={d === days} onClick={() => setDays(d)}>
                {t('dashboard.days', { n: d })}
              </button>
            ))}
          </div>
        }
      />
      {dash.isLoading && <Loading />}
      {dash.error && <ErrorBox error={dash.error} onRetry={() => dash.refetch()} />}
      {dash.data && <Overview data={dash.data} days={days} />}
      {stations.data && stations.data.length === 0 ? (
        <AddStationFirst title={t('dashboard.noStations')} body={t('dashboard.noStationsBody')} />
      ) : (
        <div className="grid-2">
          <Balances ids={(stations.data ?? []).slice(0, STATION_CAP).map((s) => ({ id: s.id, name: s.name }))} />
          <Checkins ids={(stations.data ?? []).slice(0, STATION_CAP).map((s) => ({ id: s.id, name: s.name }))} />
        </div>
      )}
      <div className="grid-2">
        <Cooldowns />
        <RecentJobs />
      </div>
      <p className="muted small">{t('dashboard.updated', { when: formatRelative(dash.dataUpdatedAt || Date.now(), lang) })}</p>
    </>
  );
}

function Overview({ data, days }: { data: DashboardData; days: number }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const byKey = useQuery({ queryKey: keys.usageByKey(days), queryFn: () => fetchers.usageByKey(api, days), staleTime: 0 });
  const tokens = data.prompt_tokens + data.completion_tokens;
  const byDay = data.by_day.map((d) => ({
    day: d.day.slice(5),
    requests: d.requests,
    errors: d.errors ?? 0,
    ok: d.requests - (d.errors ?? 0),
    prompt: d.prompt_tokens ?? 0,
    completion: d.completion_tokens ?? 0,
    cost: d.cost_usd ?? 0,
    latency: d.requests ? Math.round((d.latency_ms_sum ?? 0) / d.requests) : null,
  }));
  return (
    <>
      <div className="stats" data-testid="dashboard-stats">
        <Stat label={t('dashboard.requests')} value={<span data-testid="stat-requests">{formatNumber(data.requests, lang)}</span>} sub={t('dashboard.errorsN', { n: formatNumber(data.errors, lang) })} />
        <Stat
          label={t('dashboard.successRate')}
          value={formatPercent(data.success_rate, lang)}
          tone={data.success_rate === null ? undefined : data.success_rate >= 0.95 ? 'good' : 'bad'}
        />
        <Stat label={t('dashboard.latency')} value={formatDuration(data.latency_ms.p50)} sub={t('dashboard.p95', { v: formatDuration(data.latency_ms.p95) })} />
        <Stat
          label={t('dashboard.tokens')}
          value={formatCompact(tokens, lang)}
          sub={t('dashboard.tokensSplit', { p: formatCompact(data.prompt_tokens, lang), c: formatCompact(data.completion_tokens, lang) })}
        />
        <Stat label={t('dashboard.cost')} value={formatUsd(data.cost_usd, lang)} />
      </div>
      {data.requests === 0 ? (
        <Card>
          <EmptyState
            title={t('dashboard.noTraffic')}
            body={t('dashboard.noTrafficBody')}
            action={
              <Link className="btn btn-primary" to="/keys">
                {t('keys.create')}
              </Link>
            }
          />
        </Card>
      ) : (
        <>
          <div className="grid-2">
            <Card title={t('dashboard.requestsOverTime')}>
              <TimeChart
                data={byDay}
                x="day"
                kind="bar"
                series={[
                  { key: 'ok', label: t('dashboard.succeeded'), color: 'var(--good)' },
                  { key: 'errors', label: t('dashboard.failed'), color: 'var(--bad)' },
                ]}
              />
            </Card>
            <Card title={t('dashboard.tokensOverTime')}>
              <TimeChart
                data={byDay}
                x="day"
                format={(v) => formatCompact(v, lang)}
                series={[
                  { key: 'prompt', label: t('dashboard.promptTokens'), color: 'var(--accent)' },
                  { key: 'completion', label: t('dashboard.completionTokens'), color: 'var(--accent-2)' },
                ]}
              />
            </Card>
            <Card title={t('dashboard.costOverTime')}>
              <TimeChart data={byDay} x="day" kind="line" axisWidth={84} format={(v) => formatUsd(v, lang)} series={[{ key: 'cost', label: t('dashboard.cost'), color: 'var(--warn)' }]} />
            </Card>
            <Card title={t('dashboard.latencyOverTime')}>
              <TimeChart data={byDay} x="day" kind="line" format={(v) => formatDuration(v)} series={[{ key: 'latency', label: t('dashboard.avgLatency'), color: 'var(--info)' }]} />
            </Card>
          </div>
          <div className="grid-2">
            <Breakdown title={t('dashboard.byModel')} rows={data.by_model.map((m) => ({ name: m.model, ...m }))} />
            <Breakdown title={t('dashboard.byStation')} rows={data.by_station.map((s) => ({ name: s.station_name ?? t('dashboard.noStation'), ...s }))} />
            <Breakdown
              title={t('dashboard.byKey')}
              rows={(byKey.data ?? []).map((k) => ({ ...k, name: k.name || k.key_hint || (k.gateway_key_id === null ? t('dashboard.noKey') : `#${k.gateway_key_id}`) }))}
            />
          </div>
        </>
      )}
    </>
  );
}

function Breakdown({ title, rows }: { title: string; rows: { name: string; requests: number; errors: number | null; cost_usd: number | null; prompt_tokens: number | null; completion_tokens: number | null }[] }) {
  const { t, lang } = useI18n();
  const max = Math.max(1, ...rows.map((r) => r.requests));
  return (
    <Card title={title}>
      <Table columns={[{ label: t('common.name') }, { label: t('dashboard.requests'), num: true }, { label: t('dashboard.tokens'), num: true }, { label: t('dashboard.cost'), num: true }]}>
            {rows.map((r) => (
              <tr key={r.name}>
                <td>
                  <div className="bar-cell">
                    <span className="bar" style={{ width: `${(100 * r.requests) / max}%` }} aria-hidden="true" />
                    <span>{r.name}</span>
                  </div>
                </td>
                <td className="num">{formatNumber(r.requests, lang)}</td>
                <td className="num">{formatCompact((r.prompt_tokens ?? 0) + (r.completion_tokens ?? 0), lang)}</td>
                <td className="num">{formatUsd(r.cost_usd ?? 0, lang)}</td>
              </tr>
            ))}
          </Table>
    </Card>
  );
}

function Balances({ ids }: { ids: { id: number; name: string }[] }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const details = useQueries({ queries: ids.map((s) => ({ queryKey: keys.station(s.id), queryFn: () => fetchers.station(api, s.id) })) });
  const history = useQueries({ queries: ids.map((s) => ({ queryKey: keys.balance(s.id), queryFn: () => fetchers.balance(api, s.id) })) });
  return (
    <Card title={t('dashboard.balances')}>
      {ids.length === 0 ? (
        <p className="muted">{t('common.none')}</p>
      ) : (
        <ul className="list">
          {ids.map((s, i) => {
            const points = (history[i].data ?? []).flatMap((a) => a.points);
            const byTime = new Map<number, number>();
            for (const p of points) if (p.balance_usd !== null) byTime.set(p.taken_at, (byTime.get(p.taken_at) ?? 0) + p.balance_usd);
            const trend = [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
            return (
              <li key={s.id}>
                <Link to={`/stations/${s.id}`}>{s.name}</Link>
                <span className="spacer" />
                <Sparkline values={trend} />
                <strong className="num">{formatUsd(stationBalance(details[i].data), lang)}</strong>
              </li>
            );
          })}
        </ul>
      )}
    </Card>
  );
}

function Checkins({ ids }: { ids: { id: number; name: string }[] }) {
  const { t } = useI18n();
  const api = useApi();
  const today = utcDay(Date.now());
  const records = useQueries({ queries: ids.map((s) => ({ queryKey: keys.checkins(s.id), queryFn: () => fetchers.checkins(api, s.id) })) });
  const rows = ids.flatMap((s, i) => (records[i].data ?? []).filter((r) => r.day === today).map((r) => ({ ...r, station: s })));
  return (
    <Card title={t('dashboard.checkinsToday')}>
      {rows.length === 0 ? (
        <p className="muted">{t('dashboard.noCheckins')}</p>
      ) : (
        <ul className="list">
          {rows.map((r) => (
            <li key={`${r.station.id}-${r.account_id}`}>
              <Link to={`/stations/${r.station.id}`}>{r.station.name}</Link>
              <span className="muted">#{r.account_id}</span>
              <span className="spacer" />
              <CheckinOutcome outcome={r.outcome} />
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function Cooldowns() {
  const { t, lang } = useI18n();
  const api = useApi();
  const routes = useQuery({ queryKey: keys.routes, queryFn: () => fetchers.routes(api) });
  const cooling = (routes.data ?? []).filter((r) => r.cooldown?.cooling);
  return (
    <Card title={t('dashboard.cooling')} actions={<Link to="/routes">{t('common.viewAll')}</Link>}>
      {routes.error ? (
        <ErrorBox error={routes.error} />
      ) : cooling.length === 0 ? (
        <p className="muted">{t('dashboard.noCooling')}</p>
      ) : (
        <ul className="list">
          {cooling.map((r) => (
            <li key={r.id}>
              <span>{r.model}</span>
              <span className="muted">{r.station_name}</span>
              <span className="spacer" />
              <Badge tone="warn">{t('routes.coolingUntil', { when: formatRelative(r.cooldown?.until_ms, lang) })}</Badge>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function RecentJobs() {
  const { t, lang } = useI18n();
  const api = useApi();
  const jobs = useQuery({ queryKey: keys.jobs, queryFn: () => fetchers.jobs(api) });
  const recent = (jobs.data ?? []).slice(0, 8);
  return (
    <Card title={t('dashboard.recentJobs')} actions={<Link to="/jobs">{t('common.viewAll')}</Link>}>
      {jobs.error ? (
        <ErrorBox error={jobs.error} />
      ) : recent.length === 0 ? (
        <p className="muted">{t('jobs.empty')}</p>
      ) : (
        <ul className="list">
          {recent.map((j) => (
            <li key={j.id} className={j.status === 'failed' || j.status === 'partial' ? 'row-bad' : ''}>
              <span>{t(`job.${j.job}` as 'job.sync')}</span>
              <span className="muted">{formatRelative(j.started_at, lang)}</span>
              <span className="spacer" />
              <JobStatusBadge status={j.status} />
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
