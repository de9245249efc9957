// The API client: envelope unwrapping, typed errors, headers, transparent refresh, sign-out on 401.
import { describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, buildUrl, type Session, type SessionStore } from './client';

function memoryStore(initial: Session | null): SessionStore & { value: Session | null } {
  const store = {
    value: initial,
    get: () => store.value,
    set: (s: Session | null) => {
      store.value = s;
    },
  };
  return store;
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function client(session: Session | null, responses: ((url: string, init: RequestInit) => Response)[]) {
  const store = memoryStore(session);
  const calls: { url: string; init: RequestInit }[] = [];
  const onSignedOut = vi.fn();
  const fetchMock = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const next = responses.shift();
    if (!next) throw new Error(`unexpected request ${String(url)}`);
    return next(String(url), init ?? {});
  });
  const api = new ApiClient({ baseUrl: 'https://gw.example/', store, organization: () => 3, onSignedOut, fetch: fetchMock as typeof fetch });
  return { api, store, calls, onSignedOut };
}

const header = (init: RequestInit, name: string) => (init.headers as Record<string, string>)[name];

describe('ApiClient', () => {
  it('unwraps data and sends the bearer token and the organization', async () => {
    const { api, calls } = client({ kind: 'admin', token: 'adm' }, [() => json(200, { success: true, data: [{ id: 1 }] })]);
    await expect(api.get('/api/provider/', { page: 2, model: '', x: undefined })).resolves.toEqual([{ id: 1 }]);
    expect(calls[0].url).toBe('https://gw.example/api/provider/?page=2');
    expect(header(calls[0].init, 'authorization')).toBe('Bearer adm');
    expect(header(calls[0].init, 'x-organization-id')).toBe('3');
  });

  it('turns the error envelope into a typed ApiError with the API message', async () => {
    const { api } = client({ kind: 'admin', token: 'adm' }, [
      () => json(403, { success: false, error: { code: 'forbidden', message: 'plan_limit_gateway_keys: the free plan allows 5' } }),
    ]);
    const err = (await api.post('/api/agg-token/', { name: 'k' }).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 403, code: 'forbidden', message: 'plan_limit_gateway_keys: the free plan allows 5' });
    expect(err.isForbidden).toBe(true);
  });

  it('reports a non-JSON answer and a network failure as ApiError too', async () => {
    const { api } = client(null, [() => new Response('Bad gateway', { status: 502 }), () => Promise.reject(new TypeError('fetch failed')) as never]);
    await expect(api.get('/health')).rejects.toMatchObject({ status: 502, code: 'http_502', message: 'Bad gateway' });
    const err = await api.get('/health').catch((e) => e);
    expect(err).toMatchObject({ status: 0, code: 'network_error' });
  });

  it('refreshes an expired access token once and retries the call', async () => {
    const { api, store, calls, onSignedOut } = client({ kind: 'user', access: 'old', refresh: 'r1', email: 'a@b.c' }, [
      () => json(401, { success: false, error: { code: 'unauthorized', message: 'expired' } }),
      () => json(200, { success: true, data: { access_token: 'new', refresh_token: 'r2' } }),
      () => json(200, { success: true, data: { ok: 1 } }),
    ]);
    await expect(api.get('/api/jobs')).resolves.toEqual({ ok: 1 });
    expect(calls[1].url).toBe('https://gw.example/api/users/refresh');
    expect(JSON.parse(String(calls[1].init.body))).toEqual({ refresh_token: 'r1' });
    expect(header(calls[1].init, 'authorization')).toBeUndefined();
    expect(header(calls[2].init, 'authorization')).toBe('Bearer new');
    expect(store.value).toEqual({ kind: 'user', access: 'new', refresh: 'r2', email: 'a@b.c' });
    expect(onSignedOut).not.toHaveBeenCalled();
  });

  it('shares one refresh among concurrent 401s', async () => {
    let refreshes = 0;
    const handler = (url: string, init: RequestInit) => {
      if (url.endsWith('/api/users/refresh')) {
        refreshes += 1;
        return json(200, { success: true, data: { access_token: 'new', refresh_token: 'r2' } });
      }
      return header(init, 'authorization') === 'Bearer new' ? json(200, { success: true, data: url }) : json(401, { success: false, error: {} });
    };
    const { api } = client({ kind: 'user', access: 'old', refresh: 'r1', email: 'a@b.c' }, Array(5).fill(handler));
    const results = await Promise.all([api.get('/api/a'), api.get('/api/b')]);
    expect(results).toEqual(['https://gw.example/api/a', 'https://gw.example/api/b']);
    expect(refreshes).toBe(1);
  });

  it('signs out when the refresh token is rejected too', async () => {
    const { api, store, onSignedOut } = client({ kind: 'user', access: 'old', refresh: 'bad', email: 'a@b.c' }, [
      () => json(401, { success: false, error: { code: 'unauthorized', message: 'expired' } }),
      () => json(401, { success: false, error: { code: 'unauthorized', message: 'bad refresh' } }),
    ]);
    await expect(api.get('/api/jobs')).rejects.toMatchObject({ status: 401, message: 'expired' });
    expect(store.value).toBeNull();
    expect(onSignedOut).toHaveBeenCalledOnce();
  });

  it('signs an admin-token session out on 401 without trying a refresh', async () => {
    const { api, calls, onSignedOut } = client({ kind: 'admin', token: 'wrong' }, [() => json(401, { success: false, error: { message: 'Invalid or missing admin token' } })]);
    await expect(api.get('/api/organizations')).rejects.toBeInstanceOf(ApiError);
    expect(calls).toHaveLength(1);
    expect(onSignedOut).toHaveBeenCalledOnce();
  });

  it('does not sign out on a 401 of an anonymous call (a wrong password)', async () => {
    const { api, onSignedOut } = client(null, [() => json(401, { success: false, error: { message: 'Invalid email or password' } })]);
    await expect(api.request('POST', '/api/users/login', { anonymous: true, body: {} })).rejects.toMatchObject({ message: 'Invalid email or password' });
    expect(onSignedOut).not.toHaveBeenCalled();
  });
});

describe('buildUrl', () => {
  it('joins base and path and drops empty query values', () => {
    expect(buildUrl('', '/api/log/', { days: 7, model: '', status: null })).toBe('/api/log/?days=7');
    expect(buildUrl('https://x.example//', '/health')).toBe('https://x.example/health');
  });
});
