// "Sync now" and "Check in now" for one station: progress while they run, then the result.
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useApi } from '../app-state';
import { useI18n } from '../i18n';
import { Button, ErrorBox } from './ui';
import { CheckinOutcome } from './badges';
import { formatUsd } from '../format';
import type { CheckinRecord, SyncResult } from '../api/types';

export function useStationActions(id: number) {
  const api = useApi();
  const queryClient = useQueryClient();
  const refresh = () => Promise.all([queryClient.invalidateQueries({ queryKey: ['stations'] }), queryClient.invalidateQueries({ queryKey: ['routes'] })]);
  const sync = useMutation({ mutationFn: () => api.post<SyncResult>(`/api/provider/${id}/sync`), onSettled: refresh });
  const checkin = useMutation({ mutationFn: () => api.post<CheckinRecord[]>(`/api/provider/${id}/checkin`), onSettled: refresh });
  return { sync, checkin };
}

export function SyncResultView({ result }: { result: SyncResult }) {
  const { t, lang } = useI18n();
  return (
    <div className={`result ${result.errors.length ? 'result-bad' : 'result-good'}`} role="status" data-testid="sync-result">
      <strong>{result.errors.length ? t('stations.syncDoneErrors') : t('stations.syncDone')}</strong>
      <span>
        {t('stations.syncCounts', { models: result.models, keys: result.keys, routes: result.route_entries })}
        {result.balance_usd !== null && ` · ${t('stations.balance')}: ${formatUsd(result.balance_usd, lang)}`}
      </span>
      {[...result.errors, ...result.warnings].map((m) => (
        <span key={m} className="muted small">
          {m}
        </span>
      ))}
    </div>
  );
}

export function CheckinResultView({ records }: { records: CheckinRecord[] }) {
  const { t, lang } = useI18n();
  return (
    <div className="result" role="status" data-testid="checkin-result">
      <strong>{t('stations.checkinDone')}</strong>
      {records.length === 0 && <span className="muted">{t('stations.noCheckinAccounts')}</span>}
      {records.map((r) => (
        <span key={r.account_id}>
          #{r.account_id} <CheckinOutcome outcome={r.outcome} /> {r.reward_usd ? formatUsd(r.reward_usd, lang) : ''} {r.message ?? ''}
        </span>
      ))}
    </div>
  );
}

export function StationActions({ id, compact }: { id: number; compact?: boolean }) {
  const { t } = useI18n();
  const { sync, checkin } = useStationActions(id);
  return (
    <div className="station-actions">
      <div className="row">
        <Button kind={compact ? 'ghost' : 'secondary'} busy={sync.isPending} onClick={() => sync.mutate()}>
          {sync.isPending ? t('stations.syncing') : t('stations.syncNow')}
        </Button>
        <Button kind={compact ? 'ghost' : 'secondary'} busy={checkin.isPending} onClick={() => checkin.mutate()}>
          {checkin.isPending ? t('stations.checkingIn') : t('stations.checkinNow')}
        </Button>
      </div>
      {sync.data && <SyncResultView result={sync.data} />}
      {sync.error && <ErrorBox error={sync.error} />}
      {checkin.data && <CheckinResultView records={checkin.data} />}
      {checkin.error && <ErrorBox error={checkin.error} />}
    </div>
  );
}
