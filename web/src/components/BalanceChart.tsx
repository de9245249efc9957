// A station's balance over time, one line per account (loaded with the chart library on demand).
import { useI18n } from '../i18n';
import { TimeChart } from './charts';
import { formatUsd } from '../format';
import type { BalanceHistory } from '../api/types';

const COLORS = ['var(--accent)', 'var(--accent-2)', 'var(--good)', 'var(--warn)', 'var(--info)'];

export default function BalanceChart({ history }: { history: BalanceHistory[] }) {
  const { t, lang } = useI18n();
  const times = [...new Set(history.flatMap((a) => a.points.map((p) => p.taken_at)))].sort((a, b) => a - b);
  const data = times.map((time) => {
    const row: Record<string, number | string | null> = { time: new Date(time).toLocaleDateString(lang === 'zh' ? 'zh-CN' : 'en-US', { month: 'short', day: 'numeric', hour: '2-digit' }) };
    for (const a of history) row[`a${a.account_id}`] = a.points.find((p) => p.taken_at === time)?.balance_usd ?? null;
    return row;
  });
  return (
    <TimeChart
      data={data}
      x="time"
      kind="line"
      axisWidth={72}
      format={(v) => formatUsd(v, lang)}
      series={history.map((a, i) => ({ key: `a${a.account_id}`, label: t('accounts.accountN', { id: a.account_id }), color: COLORS[i % COLORS.length] }))}
    />
  );
}
