// Charts (recharts), imported only by the pages that draw them so the first load stays small.
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

export interface Series {
  key: string;
  label: string;
  color: string;
}

const axis = { stroke: 'var(--muted)', fontSize: 12 };
const tooltipStyle = { background: 'var(--surface)', border: '1px solid var(--border)', borderRadius: 8, color: 'var(--text)' };

export function TimeChart({
  data,
  x,
  series,
  kind = 'area',
  height = 220,
  format,
  axisWidth = 56,
}: {
  data: object[];
  x: string;
  series: Series[];
  kind?: 'area' | 'bar' | 'line';
  height?: number;
  format?: (v: number) => string;
  axisWidth?: number;
}) {
  const fmt = (v: unknown) => (format && typeof v === 'number' ? format(v) : String(v));
  const common = (
    <>
      <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" vertical={false} />
      <XAxis dataKey={x} tick={axis} tickLine={false} axisLine={false} minTickGap={16} />
      <YAxis tick={axis} tickLine={false} axisLine={false} width={axisWidth} tickFormatter={fmt} />
      <Tooltip contentStyle={tooltipStyle} formatter={(v) => fmt(v)} />
      {series.length > 1 && <Legend wrapperStyle={{ fontSize: 12 }} />}
    </>
  );
  return (
    <div style={{ width: '100%', height }}>
      <ResponsiveContainer>
        {kind === 'bar' ? (
          <BarChart data={data}>
            {common}
            {series.map((s) => (
              <Bar key={s.key} dataKey={s.key} name={s.label} fill={s.color} stackId="a" maxBarSize={48} radius={[3, 3, 0, 0]} isAnimationActive={false} />
            ))}
          </BarChart>
        ) : kind === 'line' ? (
          <LineChart data={data}>
            {common}
            {series.map((s) => (
              <Line key={s.key} dataKey={s.key} name={s.label} stroke={s.color} dot={false} strokeWidth={2} isAnimationActive={false} connectNulls />
            ))}
          </LineChart>
        ) : (
          <AreaChart data={data}>
            {common}
            {series.map((s) => (
              <Area
                key={s.key}
                dataKey={s.key}
                name={s.label}
                stroke={s.color}
                fill={s.color}
                fillOpacity={0.18}
                strokeWidth={2}
                isAnimationActive={false}
              />
            ))}
          </AreaChart>
        )}
      </ResponsiveContainer>
    </div>
  );
}

/** A tiny trend line without axes (balances in lists). */
export function Sparkline({ values, color = 'var(--accent)' }: { values: number[]; color?: string }) {
  if (values.length < 2) return null;
  const data = values.map((v, i) => ({ i, v }));
  return (
    <div style={{ width: 96, height: 28 }} aria-hidden="true">
      <ResponsiveContainer>
        <LineChart data={data}>
          <Line dataKey="v" stroke={color} dot={false} strokeWidth={1.5} isAnimationActive={false} />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}
