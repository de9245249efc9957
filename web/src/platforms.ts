// Station platforms and the credentials each accepts (mirrors src/core/panels/credential.rs
// `accepted_kinds`, in the same order of preference).
export type CredentialKind = 'access_token' | 'cookie' | 'password' | 'api_key';

export const PANEL_PLATFORMS = ['new-api', 'one-api', 'onehub', 'done-hub', 'veloera', 'anyrouter', 'sub2api'] as const;
export const GENERIC_PLATFORMS = ['openai-compatible', 'anthropic-compatible', 'gemini-compatible'] as const;
export const VENDOR_PLATFORMS = ['openai', 'anthropic', 'gemini', 'deepseek', 'moonshot', 'zhipu', 'aliyun', 'doubao', 'minimax', 'modelscope'] as const;
export const PLATFORMS: string[] = [...PANEL_PLATFORMS, ...GENERIC_PLATFORMS, ...VENDOR_PLATFORMS];

export const PLATFORM_LABELS: Record<string, string> = {
  'new-api': 'New API',
  'one-api': 'One API',
  onehub: 'OneHub',
  'done-hub': 'DoneHub',
  veloera: 'Veloera',
  anyrouter: 'AnyRouter',
  sub2api: 'Sub2API',
  'openai-compatible': 'OpenAI-compatible',
  'anthropic-compatible': 'Anthropic-compatible',
  'gemini-compatible': 'Gemini-compatible',
  openai: 'OpenAI',
  anthropic: 'Anthropic',
  gemini: 'Google Gemini',
  deepseek: 'DeepSeek',
  moonshot: 'Moonshot',
  zhipu: 'Zhipu',
  aliyun: 'Aliyun Bailian',
  doubao: 'Doubao',
  minimax: 'MiniMax',
  modelscope: 'ModelScope',
};

export function credentialKinds(platform: string): CredentialKind[] {
  if ((['new-api', 'one-api', 'onehub', 'done-hub', 'veloera'] as string[]).includes(platform)) return ['access_token', 'cookie', 'password'];
  if (platform === 'anyrouter') return ['cookie'];
  if (platform === 'sub2api') return ['password', 'access_token', 'api_key'];
  return ['api_key'];
}

/** Vendors have a preset base URL; the field may stay empty. */
export const isVendor = (platform: string) => (VENDOR_PLATFORMS as readonly string[]).includes(platform);

/** Panels whose management API wants the panel user id next to a token or session. */
export const takesUserId = (platform: string, kind: CredentialKind) =>
  (kind === 'access_token' || kind === 'cookie') && ['new-api', 'veloera', 'anyrouter', 'onehub', 'done-hub', 'one-api'].includes(platform);

export const DIALECTS = ['openai-chat', 'openai-completions', 'openai-responses', 'anthropic-messages', 'gemini'] as const;

/** The fields of a credential body for the API, from the form's values. */
export function credentialBody(kind: CredentialKind, v: { access_token: string; cookie: string; username: string; password: string; api_key: string; user_id: string }) {
  const body: Record<string, string | number> = {};
  if (kind === 'access_token') body.access_token = v.access_token.trim();
  if (kind === 'cookie') body.cookie = v.cookie.trim();
  if (kind === 'password') {
    body.username = v.username.trim();
    body.password = v.password;
  }
  if (kind === 'api_key') body.api_key = v.api_key.trim();
  if ((kind === 'access_token' || kind === 'cookie') && v.user_id.trim()) body.user_id = v.user_id.trim();
  return body;
}
