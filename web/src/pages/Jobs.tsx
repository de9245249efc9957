// Jobs: the history of sync, balance and check-in runs (errors shown), and "run now".
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi } from '../app-state';
import { useI18n } from '../i18n';
import { fetchers, keys } from '../api/queries';
import { PageHeader } from '../components/Layout';
import { Button, Card, EmptyState, ErrorBox, Pager, QueryView, usePaged, Table } from '../components/ui';
import { JobStatusBadge } from '../components/badges';
import { formatDateTime, formatDuration } from '../format';
import type { JobSummary } from '../api/types';

const KINDS = ['sync', 'balance', 'checkin'] as const;

export default function Jobs() {
  const { t, lang } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const runs = useQuery({ queryKey: keys.jobs, queryFn: () => fetchers.jobs(api), refetchInterval: 30_000 });
  const run = useMutation({
    mutationFn: (kind: string) => api.post<JobSummary>(`/api/jobs/${kind}/run`),
    onSettled: () => Promise.all([queryClient.invalidateQueries({ queryKey: keys.jobs }), queryClient.invalidateQueries({ queryKey: keys.stations })]),
  });
  const paged = usePaged(runs.data ?? [], 30);
  return (
    <>
      <PageHeader title={t('jobs.title')} subtitle={t('jobs.subtitle')} />
      <Card title={t('jobs.runNow')}>
        <div className="row">
          {KINDS.map((k) => (
            <Button key={k} busy={run.isPending && run.variables === k} disabled={run.isPending} onClick={() => run.mutate(k)}>
              {t('jobs.run', { job: t(`job.${k}`) })}
            </Button>
          ))}
        </div>
        {run.data && (
          <div className={`result ${run.data.failed ? 'result-bad' : 'result-good'}`} role="status">
            <strong>{t('jobs.finished', { job: t(`job.${run.data.job}` as 'job.sync') })}</strong>
            <span>{t('jobs.summary', { processed: run.data.processed, failed: run.data.failed, used: run.data.subrequests, budget: run.data.budget })}</span>
            {run.data.errors.map((e) => (
              <span key={e} className="small bad">
                {e}
              </span>
            ))}
          </div>
        )}
        {run.error && <ErrorBox error={run.error} />}
      </Card>
      <Card title={t('jobs.history')}>
        <QueryView query={runs} empty={(d) => (d.length === 0 ? <EmptyState title={t('jobs.empty')} body={t('jobs.emptyBody')} /> : null)}>
          {() => (
            <>
              <Table columns={[{ label: t('jobs.job') }, { label: t('jobs.trigger') }, { label: t('jobs.started') }, { label: t('jobs.duration') }, { label: t('common.status') }, { label: t('jobs.processed'), num: true }, { label: t('jobs.error') }]}>
                    {paged.rows.map((j) => (
                      <tr key={j.id} className={j.status === 'failed' || j.status === 'partial' ? 'row-bad' : ''}>
                        <td data-label={t('jobs.job')}>{t(`job.${j.job}` as 'job.sync')}</td>
                        <td data-label={t('jobs.trigger')}>{j.trigger === 'cron' ? t('jobs.cron') : t('jobs.manual')}</td>
                        <td data-label={t('jobs.started')}>{formatDateTime(j.started_at, lang)}</td>
                        <td data-label={t('jobs.duration')}>{j.finished_at ? formatDuration(j.finished_at - j.started_at) : '—'}</td>
                        <td data-label={t('common.status')}>
                          <JobStatusBadge status={j.status} />
                        </td>
                        <td data-label={t('jobs.processed')} className="num">
                          {j.processed}
                          {j.failed > 0 && <span className="bad"> ({t('jobs.failedN', { n: j.failed })})</span>}
                        </td>
                        <td data-label={t('jobs.error')} className="small">
                          {j.error ?? ''}
                        </td>
                      </tr>
                    ))}
                  </Table>
              <Pager page={paged.page} pageSize={paged.pageSize} total={paged.total} onPage={paged.setPage} />
            </>
          )}
        </QueryView>
      </Card>
    </>
  );
}
