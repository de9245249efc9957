// The one API client: bearer auth (admin token or a user session), the organization header,
// typed errors, a transparent refresh of an expired access token, and a 401 that signs out.

export type Session =
  | { kind: 'admin'; token: string }
  | { kind: 'user'; access: string; refresh: string; email: string };

/** An error answered by the gateway (`{"success":false,"error":{"code","message"}}`) or the network. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  get isUnauthorized() {
    return this.status === 401;
  }
  get isForbidden() {
    return this.status === 403;
  }
}

export interface SessionStore {
  get(): Session | null;
  set(session: Session | null): void;
}

/** Sessions kept in localStorage so a reload stays signed in. */
export function localSessionStore(storage: Storage = localStorage, key = 'ag.session'): SessionStore {
  return {
    get() {
      try {
        const raw = storage.getItem(key);
        return raw ? (JSON.parse(raw) as Session) : null;
      } catch {
        return null;
      }
    },
    set(session) {
      if (session) storage.setItem(key, JSON.stringify(session));
      else storage.removeItem(key);
    },
  };
}

export interface ClientOptions {
  baseUrl: string;
  store: SessionStore;
  /** The organization to act in (`X-Organization-Id`), or null for the default. */
  organization: () => number | null;
  /** Called once the session is gone (401 that a refresh could not fix). */
  onSignedOut: () => void;
  fetch?: typeof fetch;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Send no Authorization header (sign-in, register, invitation lookup). */
  anonymous?: boolean;
}

interface Envelope<T> {
  success: boolean;
  data?: T;
  error?: { code?: string; message?: string };
}

export function buildUrl(base: string, path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return `${base.replace(/\/+$/, '')}${path}${qs ? `?${qs}` : ''}`;
}

export class ApiClient {
  private refreshing: Promise<boolean> | null = null;
  private readonly doFetch: typeof fetch;

  constructor(private readonly opts: ClientOptions) {
    this.doFetch = opts.fetch ?? ((...args) => fetch(...args));
  }

  get session(): Session | null {
    return this.opts.store.get();
  }

  signIn(session: Session) {
    this.opts.store.set(session);
  }

  signOut() {
    this.opts.store.set(null);
    this.opts.onSignedOut();
  }

  get<T>(path: string, query?: Query) {
    return this.request<T>('GET', path, { query });
  }
  post<T>(path: string, body?: unknown) {
    return this.request<T>('POST', path, { body });
  }
  put<T>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, { body });
  }
  patch<T>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, { body });
  }
  delete<T>(path: string) {
    return this.request<T>('DELETE', path, {});
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const first = await this.send(method, path, options);
    if (first.status === 401 && !options.anonymous) {
      const session = this.session;
      if (session?.kind === 'user' && (await this.refresh(session))) {
        return this.unwrap<T>(await this.send(method, path, options));
      }
      this.signOut();
    }
    return this.unwrap<T>(first);
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const session = this.session;
    if (!options.anonymous && session) {
      headers.authorization = `Bearer ${session.kind === 'admin' ? session.token : session.access}`;
      const org = this.opts.organization();
      if (org !== null) headers['x-organization-id'] = String(org);
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    try {
      return await this.doFetch(buildUrl(this.opts.baseUrl, path, options.query), { method, headers, body });
    } catch (err) {
      throw new ApiError(0, 'network_error', err instanceof Error ? err.message : String(err));
    }
  }

  private async unwrap<T>(res: Response): Promise<T> {
    const text = await res.text();
    let parsed: Envelope<T> | null = null;
    try {
      parsed = text ? (JSON.parse(text) as Envelope<T>) : null;
    } catch {
      parsed = null;
    }
    if (res.ok && parsed?.success) return parsed.data as T;
    const code = parsed?.error?.code ?? `http_${res.status}`;
    const message = parsed?.error?.message ?? (text.trim().slice(0, 300) || res.statusText || `HTTP ${res.status}`);
    throw new ApiError(res.status, code, message);
  }

  /** One refresh at a time: concurrent 401s wait for the same new pair. */
  private refresh(session: Extract<Session, { kind: 'user' }>): Promise<boolean> {
    this.refreshing ??= (async () => {
      try {
        const res = await this.send('POST', '/api/users/refresh', {
          anonymous: true,
          body: { refresh_token: session.refresh },
        });
        const pair = await this.unwrap<{ access_token: string; refresh_token: string }>(res);
        this.opts.store.set({ ...session, access: pair.access_token, refresh: pair.refresh_token });
        return true;
      } catch {
        return false;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}
