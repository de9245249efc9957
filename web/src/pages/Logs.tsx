// Usage logs, paged on the server: filters (period, model, key, status), and a drawer with a
// call's attempts, error class, tokens and what was billed. Members see their own keys' calls.
import { useState } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useApi, useApp } from '../app-state';
import { useI18n } from '../i18n';
import { fetchers, keys } from '../api/queries';
import { PageHeader } from '../components/Layout';
import { Badge, Button, Card, Drawer, EmptyState, ErrorBox, Loading, Pager, SelectField, TextField, Table } from '../components/ui';
import { HttpStatus } from '../components/badges';
import { formatDateTime, formatDuration, formatNumber, formatUsd } from '../format';
import type { LogRow, Page } from '../api/types';

interface Filters {
  days: string;
  model: string;
  key_id: string;
  status: string;
}

const PAGE_SIZE = 50;

export default function Logs() {
  const { t, lang } = useI18n();
  const api = useApi();
  const { isAdmin } = useApp();
  const [draft, setDraft] = useState<Filters>({ days: '7', model: '', key_id: '', status: '' });
  const [filters, setFilters] = useState<Filters>(draft);
  const [page, setPage] = useState(1);
  const [open, setOpen] = useState<LogRow | null>(null);
  const path = isAdmin ? '/api/log/' : '/api/log/self';
  const logs = useQuery({
    queryKey: [...keys.logs, path, filters, page],
    queryFn: () => api.get<Page<LogRow>>(path, { ...filters, page, page_size: PAGE_SIZE }),
    placeholderData: keepPreviousData,
    refetchInterval: 15_000,
  });
  const gatewayKeys = useQuery({ queryKey: keys.gatewayKeys, queryFn: () => fetchers.gatewayKeys(api) });
  const keyName = (id: number | null) => {
    if (id === null) return '—';
    const k = gatewayKeys.data?.find((g) => g.id === id);
    return k ? k.name || k.key_hint : `#${id}`;
  };
  const set = (f: keyof Filters) => (e: { target: { value: string } }) => setDraft({ ...draft, [f]: e.target.value });

  return (
    <>
      <PageHeader title={t('logs.title')} subtitle={isAdmin ? t('logs.subtitle') : t('logs.subtitleOwn')} />
      <Card>
        <form
          className="filters"
          onSubmit={(e) => {
            e.preventDefault();
            setPage(1);
            setFilters(draft);
          }}
        >
          <SelectField
            label={t('logs.period')}
            value={draft.days}
            onChange={set('days')}
            options={['1', '7', '30', '90'].map((d) => ({ value: d, label: t('dashboard.days', { n: d }) }))}
          />
          <TextField label={t('logs.model')} value={draft.model} onChange={set('model')} placeholder="gpt-4o-mini" />
          <SelectField
            label={t('logs.key')}
            value={draft.key_id}
            onChange={set('key_id')}
            options={[{ value: '', label: t('common.all') }, ...(gatewayKeys.data ?? []).map((k) => ({ value: String(k.id), label: k.name || k.key_hint }))]}
          />
          <SelectField
            label={t('common.status')}
            value={draft.status}
            onChange={set('status')}
            options={[
              { value: '', label: t('common.all') },
              { value: 'success', label: t('logs.success') },
              { value: 'error', label: t('logs.errors') },
              { value: '429', label: '429' },
              { value: '503', label: '503' },
            ]}
          />
          <Button kind="primary" type="submit">
            {t('logs.apply')}
          </Button>
        </form>
        {logs.isLoading && <Loading />}
        {logs.error && <ErrorBox error={logs.error} onRetry={() => logs.refetch()} />}
        {logs.data && logs.data.items.length === 0 && <EmptyState title={t('logs.empty')} body={t('logs.emptyBody')} />}
        {logs.data && logs.data.items.length > 0 && (
          <>
            <Table columns={[{ label: t('logs.time') }, { label: t('logs.model') }, { label: t('logs.key') }, { label: t('common.status') }, { label: t('logs.latency'), num: true }, { label: t('dashboard.tokens'), num: true }, { label: t('dashboard.cost'), num: true }]} className="clickable" testId="logs-table">
                  {logs.data.items.map((r) => (
                    <tr key={r.id} tabIndex={0} onClick={() => setOpen(r)} onKeyDown={(e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), setOpen(r))}>
                      <td data-label={t('logs.time')}>{formatDateTime(r.created_at, lang)}</td>
                      <td data-label={t('logs.model')}>
                        <code>{r.model_requested}</code>
                        {r.stream ? <Badge tone="info">{t('logs.stream')}</Badge> : null}
                      </td>
                      <td data-label={t('logs.key')}>{keyName(r.gateway_key_id)}</td>
                      <td data-label={t('common.status')}>
                        <HttpStatus status={r.status} errorClass={r.error_class} />
                        {r.attempts > 1 && <span className="muted small"> {t('logs.attemptsN', { n: r.attempts })}</span>}
                      </td>
                      <td data-label={t('logs.latency')} className="num">
                        {formatDuration(r.latency_ms)}
                      </td>
                      <td data-label={t('dashboard.tokens')} className="num">
                        {formatNumber((r.prompt_tokens ?? 0) + (r.completion_tokens ?? 0), lang)}
                      </td>
                      <td data-label={t('dashboard.cost')} className="num">
                        {formatUsd(r.cost_usd, lang)}
                      </td>
                    </tr>
                  ))}
                </Table>
            <Pager page={page} pageSize={PAGE_SIZE} total={logs.data.total} onPage={setPage} />
          </>
        )}
      </Card>
      <Drawer open={open !== null} title={t('logs.detail')} onClose={() => setOpen(null)}>
        {open && <LogDetail row={open} keyName={keyName(open.gateway_key_id)} />}
      </Drawer>
    </>
  );
}

function LogDetail({ row, keyName }: { row: LogRow; keyName: string }) {
  const { t, lang } = useI18n();
  const items: [string, React.ReactNode][] = [
    [t('logs.time'), formatDateTime(row.created_at, lang)],
    [t('logs.endpoint'), <code key="e">{row.endpoint}</code>],
    [t('logs.modelRequested'), <code key="m">{row.model_requested}</code>],
    [t('logs.modelSent'), <code key="s">{row.model_sent || '—'}</code>],
    [t('logs.key'), keyName],
    [t('routes.station'), row.station_id ? `#${row.station_id}` : '—'],
    [t('logs.channel'), row.route_entry_id ? `#${row.route_entry_id}` : '—'],
    [t('common.status'), <HttpStatus key="st" status={row.status} errorClass={row.error_class} />],
    [t('logs.attempts'), formatNumber(row.attempts, lang)],
    [t('logs.errorClass'), row.error_class ?? '—'],
    [t('logs.stream'), row.stream ? t('common.yes') : t('common.no')],
    [t('logs.clientClosed'), row.client_closed ? t('common.yes') : t('common.no')],
    [t('logs.latency'), formatDuration(row.latency_ms)],
    [t('logs.ttfb'), formatDuration(row.ttfb_ms)],
    [t('dashboard.promptTokens'), formatNumber(row.prompt_tokens, lang)],
    [t('dashboard.completionTokens'), formatNumber(row.completion_tokens, lang)],
    [t('logs.cachedTokens'), formatNumber(row.cached_tokens, lang)],
    [t('logs.reasoningTokens'), formatNumber(row.reasoning_tokens, lang)],
    [t('logs.billed'), formatUsd(row.cost_usd, lang)],
  ];
  return (
    <dl className="details" data-testid="log-detail">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
