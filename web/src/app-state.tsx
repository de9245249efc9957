// The signed-in state shared by every page: the API client, the session, the organizations the
// principal can act in, the current one (remembered) and the role there.
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiClient, localSessionStore, type Session } from './api/client';
import type { Organization, Role } from './api/types';

const ORG_KEY = 'ag.org';

interface AppState {
  api: ApiClient;
  /** The gateway's origin, for snippets (the API base, or this page's origin). */
  gatewayUrl: string;
  session: Session | null;
  signIn: (session: Session) => void;
  signOut: () => void;
  organizations: Organization[];
  organizationsLoading: boolean;
  org: Organization | null;
  setOrg: (id: number) => void;
  role: Role | null;
  /** Admin or owner: stations, routes, logs, dashboard, members. */
  isAdmin: boolean;
  isOwner: boolean;
}

const Ctx = createContext<AppState | null>(null);

export function AppStateProvider({ apiBase, children }: { apiBase: string; children: ReactNode }) {
  const queryClient = useQueryClient();
  const store = useMemo(() => localSessionStore(), []);
  const [session, setSession] = useState<Session | null>(() => store.get());
  const [orgId, setOrgId] = useState<number | null>(() => {
    const raw = Number(localStorage.getItem(ORG_KEY));
    return Number.isInteger(raw) && raw > 0 ? raw : null;
  });
  // The client reads the organization through a ref: it is built once and must see changes.
  const orgRef = useRef<number | null>(orgId);
  orgRef.current = orgId;

  const api = useMemo(
    () =>
      new ApiClient({
        baseUrl: apiBase,
        store: {
          get: store.get,
          set(next) {
            store.set(next);
            setSession(next);
          },
        },
        organization: () => orgRef.current,
        onSignedOut: () => queryClient.clear(),
      }),
    [apiBase, store, orgRef, queryClient],
  );

  const orgsQuery = useQuery({
    queryKey: ['organizations', session?.kind, session?.kind === 'user' ? session.email : 'admin'],
    queryFn: () => api.get<Organization[]>('/api/organizations'),
    enabled: session !== null,
  });
  const organizations = orgsQuery.data ?? [];
  const org = organizations.find((o) => o.id === orgId) ?? organizations[0] ?? null;
  const role: Role | null = session?.kind === 'admin' ? 'owner' : ((org?.role as Role | undefined) ?? null);

  const setOrg = useCallback(
    (id: number) => {
      localStorage.setItem(ORG_KEY, String(id));
      orgRef.current = id;
      setOrgId(id);
      // Every cached answer belongs to the previous organization.
      queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== 'organizations' });
    },
    [orgRef, queryClient],
  );

  const value: AppState = {
    api,
    gatewayUrl: (apiBase || window.location.origin).replace(/\/+$/, ''),
    session,
    signIn: (next) => {
      queryClient.clear();
      api.signIn(next);
    },
    signOut: () => api.signOut(),
    organizations,
    organizationsLoading: orgsQuery.isLoading,
    org,
    setOrg,
    role,
    isAdmin: role === 'owner' || role === 'admin',
    isOwner: role === 'owner',
  };
  // The header must name the organization the UI shows, also before the user picked one.
  if (org && orgRef.current !== org.id) orgRef.current = org.id;
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useApp(): AppState {
  const v = useContext(Ctx);
  if (!v) throw new Error('useApp outside AppStateProvider');
  return v;
}

export const useApi = () => useApp().api;
