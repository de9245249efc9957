// Status badges with translated labels: account health, key and job status, HTTP status.
import { Badge, type Tone } from './ui';
import { useT, type MessageKey } from '../i18n';

const HEALTH: Record<string, Tone> = { healthy: 'good', degraded: 'warn', unhealthy: 'bad', disabled: 'muted' };

export function HealthBadge({ health }: { health: string | null }) {
  const t = useT();
  if (!health) return <Badge>{t('health.unknown')}</Badge>;
  const key = `health.${health}` as MessageKey;
  return <Badge tone={HEALTH[health] ?? 'muted'}>{t(key)}</Badge>;
}

export function JobStatusBadge({ status }: { status: string }) {
  const t = useT();
  const tone: Tone = status === 'ok' || status === 'success' ? 'good' : status === 'running' ? 'info' : status === 'partial' ? 'warn' : 'bad';
  const known = ['ok', 'success', 'running', 'partial', 'failed', 'error'];
  return <Badge tone={tone}>{known.includes(status) ? t(`jobStatus.${status}` as MessageKey) : status}</Badge>;
}

export function HttpStatus({ status, errorClass }: { status: number; errorClass?: string | null }) {
  const tone: Tone = status < 400 && !errorClass ? 'good' : status === 429 ? 'warn' : 'bad';
  return <Badge tone={tone}>{status}</Badge>;
}

export function OnOff({ on }: { on: boolean }) {
  const t = useT();
  return <Badge tone={on ? 'good' : 'muted'}>{on ? t('common.enabled') : t('common.disabled')}</Badge>;
}

export function CheckinOutcome({ outcome }: { outcome: string }) {
  const t = useT();
  const tone = outcome === 'rewarded' || outcome === 'already_done' ? 'good' : outcome === 'failed' ? 'bad' : 'muted';
  const label =
    outcome === 'rewarded'
      ? t('checkin.rewarded')
      : outcome === 'already_done'
        ? t('checkin.alreadyDone')
        : outcome === 'failed'
          ? t('checkin.failed')
          : outcome === 'unsupported'
            ? t('checkin.unsupported')
            : outcome;
  return <Badge tone={tone}>{label}</Badge>;
}
