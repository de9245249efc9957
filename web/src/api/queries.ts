// Query keys and fetchers shared by pages (TanStack Query caches by these keys; mutations
// invalidate them).
import type { ApiClient } from './client';
import type {
  BalanceHistory,
  CheckinRecord,
  Dashboard,
  GatewayKey,
  JobRun,
  KeyUsage,
  ModelSummary,
  RouteEntry,
  Station,
  StationDetail,
  StationDialects,
  StationModel,
  UpstreamKey,
} from './types';

export const keys = {
  stations: ['stations'] as const,
  station: (id: number) => ['stations', id] as const,
  stationKeys: (id: number) => ['stations', id, 'tokens'] as const,
  stationModels: (id: number) => ['stations', id, 'models'] as const,
  dialects: (id: number) => ['stations', id, 'dialects'] as const,
  balance: (id: number) => ['stations', id, 'balance'] as const,
  checkins: (id: number) => ['stations', id, 'checkins'] as const,
  routes: ['routes'] as const,
  models: ['routes', 'models'] as const,
  gatewayKeys: ['gateway-keys'] as const,
  logs: ['logs'] as const,
  dashboard: (days: number) => ['dashboard', days] as const,
  usageByKey: (days: number) => ['dashboard', days, 'keys'] as const,
  jobs: ['jobs'] as const,
  members: (org: number) => ['org', org, 'members'] as const,
  invitations: (org: number) => ['org', org, 'invitations'] as const,
  plans: ['plans'] as const,
  me: ['me'] as const,
};

export const fetchers = {
  stations: (api: ApiClient) => api.get<Station[]>('/api/provider/'),
  station: (api: ApiClient, id: number) => api.get<StationDetail>(`/api/provider/${id}`),
  stationKeys: (api: ApiClient, id: number) => api.get<UpstreamKey[]>(`/api/provider/${id}/tokens`),
  stationModels: (api: ApiClient, id: number) => api.get<StationModel[]>(`/api/provider/${id}/models`),
  dialects: (api: ApiClient, id: number) => api.get<StationDialects>(`/api/provider/${id}/dialects`),
  balance: (api: ApiClient, id: number) => api.get<BalanceHistory[]>(`/api/provider/${id}/balance-history`),
  checkins: (api: ApiClient, id: number) => api.get<CheckinRecord[]>(`/api/provider/${id}/checkins`),
  routes: (api: ApiClient) => api.get<RouteEntry[]>('/api/route/'),
  models: (api: ApiClient) => api.get<ModelSummary[]>('/api/route/models'),
  gatewayKeys: (api: ApiClient) => api.get<GatewayKey[]>('/api/agg-token/'),
  dashboard: (api: ApiClient, days: number) => api.get<Dashboard>('/api/dashboard', { days }),
  usageByKey: (api: ApiClient, days: number) => api.get<KeyUsage[]>('/api/dashboard/keys', { days }),
  jobs: (api: ApiClient) => api.get<JobRun[]>('/api/jobs'),
};

/** Sum of the accounts' balances (null when no account reported one). */
export function stationBalance(detail: StationDetail | undefined): number | null {
  const known = detail?.accounts.filter((a) => a.balance_usd !== null) ?? [];
  return known.length ? known.reduce((s, a) => s + (a.balance_usd ?? 0), 0) : null;
}

/** The worst health of a station's enabled accounts. */
export function stationHealth(detail: StationDetail | undefined): string | null {
  if (!detail) return null;
  const order = ['unhealthy', 'degraded', 'healthy', 'disabled'];
  const healths = detail.accounts.map((a) => a.health);
  return order.find((h) => healths.includes(h as never)) ?? null;
}
