// Routing: public pages (sign-in, register, invitation) and the signed-in console, each page
// loaded on demand so the first load stays small.
import { lazy, Suspense, useState, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ApiError } from './api/client';
import { AppStateProvider, useApp } from './app-state';
import { I18nProvider } from './i18n';
import { Layout } from './components/Layout';
import { Loading } from './components/ui';
import { ErrorBoundary } from './components/ErrorBoundary';
import { SignIn, Register, CreateFirstOrganization } from './pages/Auth';
import { AcceptInvitation } from './pages/AcceptInvitation';

const Dashboard = lazy(() => import('./pages/Dashboard'));
const Stations = lazy(() => import('./pages/Stations'));
const StationDetail = lazy(() => import('./pages/StationDetail'));
const RoutesPage = lazy(() => import('./pages/Routes'));
const Keys = lazy(() => import('./pages/Keys'));
const Logs = lazy(() => import('./pages/Logs'));
const Jobs = lazy(() => import('./pages/Jobs'));
const OrganizationPage = lazy(() => import('./pages/Organization'));
const Settings = lazy(() => import('./pages/Settings'));
const Profile = lazy(() => import('./pages/Profile'));

export function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        refetchOnWindowFocus: false,
        // Client errors (4xx) are answers, not glitches: show them instead of retrying.
        retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      },
    },
  });
}

function RequireSession({ children }: { children: ReactNode }) {
  const app = useApp();
  const location = useLocation();
  if (!app.session) return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />;
  return <>{children}</>;
}

function AdminOnly({ children }: { children: ReactNode }) {
  const app = useApp();
  if (app.organizationsLoading) return <Loading />;
  if (!app.isAdmin) return <Navigate to="/keys" replace />;
  return <>{children}</>;
}

/** A user in no organization yet: create one (they become its owner) or accept an invitation. */
function NoOrganization({ children }: { children: ReactNode }) {
  const app = useApp();
  if (app.organizationsLoading) return <Loading />;
  if (app.org || !app.session) return <>{children}</>;
  return <CreateFirstOrganization />;
}

function Page({ children, admin }: { children: ReactNode; admin?: boolean }) {
  const body = (
    <ErrorBoundary>
      <Suspense fallback={<Loading />}>{children}</Suspense>
    </ErrorBoundary>
  );
  return admin ? <AdminOnly>{body}</AdminOnly> : body;
}

export function App({ apiBase }: { apiBase: string }) {
  const [queryClient] = useState(makeQueryClient);
  return (
    <I18nProvider>
      <QueryClientProvider client={queryClient}>
        <AppStateProvider apiBase={apiBase}>
          <BrowserRouter>
            <Routes>
              <Route path="/sign-in" element={<SignIn />} />
              <Route path="/register" element={<Register />} />
              <Route path="/invite/:token" element={<AcceptInvitation />} />
              <Route
                element={
                  <RequireSession>
                    <NoOrganization>
                      <Layout />
                    </NoOrganization>
                  </RequireSession>
                }
              >
                <Route index element={<Page admin><Dashboard /></Page>} />
                <Route path="stations" element={<Page admin><Stations /></Page>} />
                <Route path="stations/:id" element={<Page admin><StationDetail /></Page>} />
                <Route path="routes" element={<Page><RoutesPage /></Page>} />
                <Route path="keys" element={<Page><Keys /></Page>} />
                <Route path="logs" element={<Page><Logs /></Page>} />
                <Route path="jobs" element={<Page admin><Jobs /></Page>} />
                <Route path="organization" element={<Page><OrganizationPage /></Page>} />
                <Route path="settings" element={<Page><Settings /></Page>} />
                <Route path="profile" element={<Page><Profile /></Page>} />
                <Route path="*" element={<Navigate to="/" replace />} />
              </Route>
            </Routes>
          </BrowserRouter>
        </AppStateProvider>
      </QueryClientProvider>
    </I18nProvider>
  );
}
