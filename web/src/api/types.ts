// Shapes of the gateway's admin API answers (README.md, "Admin API"), as the console reads them.

export type Role = 'owner' | 'admin' | 'member';

export interface Organization {
  id: number;
  name: string;
  slug: string;
  plan: string;
  created_at: number;
  role?: Role | null;
}

export interface Plan {
  plan: string;
  members: number;
  gateway_keys: number;
  daily_requests: number;
}

export interface User {
  id: number;
  email: string;
  name: string;
  created_at: number;
  last_login_at?: number | null;
}

export interface Me {
  user: User;
  organizations: Organization[];
}

export interface SessionTokens {
  access_token: string;
  refresh_token: string;
  user: User;
}

export interface Member {
  user_id: number;
  email: string;
  name: string;
  role: Role;
  created_at: number;
}

export interface Invitation {
  id: number;
  email: string;
  role: Role;
  expires_at: number;
  created_at: number;
  accepted_at?: number | null;
  cancelled_at?: number | null;
  token?: string;
}

export interface InvitationLookup {
  organization: string;
  role: Role;
  expires_at: number;
}

export interface DialectRoute {
  dialect: string;
  prefix?: string | null;
}

export interface Station {
  id: number;
  name: string;
  platform: string;
  base_url: string;
  weight: number;
  priority: number;
  enabled: number;
  checkin_enabled: number;
  dialects: DialectRoute[] | null;
  quota_per_unit: number | null;
  last_synced_at: number | null;
  last_sync_error: string | null;
  created_at: number;
  updated_at: number;
}

export type Health = 'healthy' | 'degraded' | 'unhealthy' | 'disabled';

export interface Account {
  id: number;
  station_id: number;
  name: string;
  credential_kind: string;
  panel_user_id: string | null;
  health: Health;
  health_reason: string | null;
  health_changed_at: number | null;
  balance_usd: number | null;
  used_usd: number | null;
  balance_updated_at: number | null;
  panel_group: string;
  groups_json: string;
  checkin_enabled: number;
  enabled: number;
  created_at: number;
  updated_at: number;
}

export interface StationDetail {
  station: Station;
  accounts: Account[];
}

export interface UpstreamKey {
  id: number;
  account_id: number;
  remote_id: string | null;
  name: string;
  key_hint: string;
  status: string;
  status_reason: string | null;
  group_name: string;
  source: string;
  account_enabled: number;
  routes: number;
}

export interface Detection {
  base_url: string;
  platform: string | null;
  evidence: string;
}

export interface SyncResult {
  station_id: number;
  models: number;
  keys: number;
  keys_created: number;
  balance_usd: number | null;
  used_usd: number | null;
  route_entries: number;
  errors: string[];
  warnings: string[];
}

export interface JobSummary {
  job: string;
  run_id: number | null;
  processed: number;
  failed: number;
  subrequests: number;
  budget: number;
  errors: string[];
}

export interface CheckinRecord {
  account_id: number;
  day: string;
  outcome: 'rewarded' | 'already_done' | 'failed' | 'unsupported' | string;
  reward_usd: number | null;
  message: string | null;
  created_at: number;
}

export interface BalancePoint {
  taken_at: number;
  balance_usd: number | null;
  used_usd?: number | null;
  spend_usd?: number | null;
  income_usd?: number | null;
  estimated: boolean;
}

export interface BalanceHistory {
  account_id: number;
  points: BalancePoint[];
}

export interface Cooldown {
  failures: number;
  until_ms: number;
  cooling: boolean;
  last_error: string | null;
}

export interface RouteEntry {
  id: number;
  model: string;
  upstream_model: string;
  station_id: number;
  station_name: string;
  upstream_key_id: number;
  key_hint: string;
  key_status: string;
  priority: number;
  weight: number;
  enabled: number;
  manual: number;
  cooldown: Cooldown | null;
}

export interface ModelSummary {
  model: string;
  channels: number;
  enabled_channels: number;
  stations: number;
}

export interface GatewayKey {
  id: number;
  user_id: number | null;
  name: string;
  key_hint: string;
  enabled: number;
  expires_at: number | null;
  allowed_models: string;
  allowed_ips: string;
  request_limit: number | null;
  cost_limit_usd: number | null;
  used_requests: number;
  used_cost_usd: number;
  last_used_at: number | null;
  created_at: number;
}

export interface CreatedKey {
  id: number;
  name: string;
  key: string;
  key_hint: string;
}

export interface KeyInput {
  name?: string;
  expires_at?: number | null;
  models?: string[];
  allowed_ips?: string[];
  request_limit?: number | null;
  cost_limit_usd?: number | null;
  enabled?: boolean;
}

export interface LogRow {
  id: number;
  gateway_key_id: number | null;
  user_id: number | null;
  endpoint: string;
  model_requested: string;
  model_sent: string;
  station_id: number | null;
  route_entry_id: number | null;
  status: number;
  attempts: number;
  stream: number;
  latency_ms: number;
  ttfb_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cached_tokens: number | null;
  reasoning_tokens: number | null;
  cost_usd: number | null;
  error_class: string | null;
  client_closed: number;
  created_at: number;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
}

export interface UsageBucket {
  requests: number;
  errors: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
  latency_ms_sum: number | null;
}

export interface Dashboard {
  from: number;
  to: number;
  requests: number;
  errors: number;
  success_rate: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
  by_day: (UsageBucket & { day: string })[];
  by_model: (UsageBucket & { model: string })[];
  by_station: (UsageBucket & { station_id: number | null; station_name: string | null })[];
}

export interface JobRun {
  id: number;
  job: string;
  trigger: string;
  started_at: number;
  finished_at: number | null;
  status: string;
  processed: number;
  failed: number;
  error: string | null;
}

export interface StationModel {
  model: string;
  billing: 'tokens' | 'per_call' | 'unknown' | string;
  input_usd_per_mtok: number | null;
  output_usd_per_mtok: number | null;
  cache_read_usd_per_mtok: number | null;
  usd_per_call: number | null;
  endpoint_types: string;
  channels: number;
  updated_at: number;
}

export interface KeyUsage {
  gateway_key_id: number | null;
  name: string | null;
  key_hint: string | null;
  requests: number;
  errors: number;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
}

export interface StationDialects {
  platform: string;
  defaults: { dialect: string; prefix: string }[];
  override: DialectRoute[] | null;
  learned: { missing: string; learned_at: number; recheck_after: number; evidence: string | null }[];
  applies: string;
}
