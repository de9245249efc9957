// Sign in (admin token or email/password), register, and a first organization for a user who
// has none. After sign-in the user returns where they were headed (e.g. an invitation link).
import { useState, type FormEvent } from 'react';
import { Link, Navigate, useLocation, useNavigate } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useApp } from '../app-state';
import { useI18n } from '../i18n';
import { Button, ErrorBox, TextField } from '../components/ui';
import type { Organization, SessionTokens } from '../api/types';

/** The centred card of the pages shown without a session. */
export function AuthFrame({ title, children }: { title: string; children: React.ReactNode }) {
  const { t, lang, setLang } = useI18n();
  return (
    <main className="auth">
      <div className="auth-card">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            ◭
          </span>
          {t('app.name')}
        </div>
        <h1>{title}</h1>
        {children}
        <button type="button" className="link-btn lang-link" onClick={() => setLang(lang === 'en' ? 'zh' : 'en')} data-testid="lang-toggle">
          {lang === 'en' ? '中文' : 'English'}
        </button>
      </div>
    </main>
  );
}

function useReturnTo() {
  const location = useLocation();
  return (location.state as { from?: string } | null)?.from ?? '/';
}

export function SignIn() {
  const { t } = useI18n();
  const app = useApp();
  const navigate = useNavigate();
  const returnTo = useReturnTo();
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');

  const signIn = useMutation({
    mutationFn: async () => {
      if (mode === 'token') {
        const session = { kind: 'admin' as const, token: token.trim() };
        // Check the token before keeping it: a wrong one must not stay signed in.
        app.signIn(session);
        try {
          await app.api.get<Organization[]>('/api/organizations');
        } catch (err) {
          app.signOut();
          throw err;
        }
        return;
      }
      const tokens = await app.api.request<SessionTokens>('POST', '/api/users/login', {
        anonymous: true,
        body: { email: email.trim(), password },
      });
      app.signIn({ kind: 'user', access: tokens.access_token, refresh: tokens.refresh_token, email: tokens.user.email });
    },
    onSuccess: () => navigate(returnTo, { replace: true }),
  });

  if (app.session && !signIn.isPending) return <Navigate to={returnTo} replace />;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    signIn.mutate();
  };
  return (
    <AuthFrame title={t('auth.signInTitle')}>
      <div className="segmented" role="tablist" aria-label={t('auth.method')}>
        <button type="button" role="tab" aria-selected={mode === 'password'} onClick={() => setMode('password')}>
          {t('auth.withPassword')}
        </button>
        <button type="button" role="tab" aria-selected={mode === 'token'} onClick={() => setMode('token')}>
          {t('auth.withToken')}
        </button>
      </div>
      <form onSubmit={submit} className="form">
        {mode === 'password' ? (
          <>
            <TextField label={t('auth.email')} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
            <TextField
              label={t('auth.password')}
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </>
        ) : (
          <TextField
            label={t('auth.adminToken')}
            type="password"
            autoComplete="off"
            required
            value={token}
            onChange={(e) => setToken(e.target.value)}
            hint={t('auth.adminTokenHint')}
          />
        )}
        {signIn.error && <ErrorBox error={signIn.error} />}
        <Button kind="primary" type="submit" busy={signIn.isPending}>
          {t('auth.signIn')}
        </Button>
      </form>
      <p className="muted">
        {t('auth.noAccount')} <Link to="/register" state={{ from: returnTo }}>{t('auth.register')}</Link>
      </p>
    </AuthFrame>
  );
}

export function Register() {
  const { t } = useI18n();
  const app = useApp();
  const navigate = useNavigate();
  const returnTo = useReturnTo();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const register = useMutation({
    mutationFn: () =>
      app.api.request<SessionTokens>('POST', '/api/users/register', {
        anonymous: true,
        body: { name: name.trim(), email: email.trim(), password },
      }),
    onSuccess: (tokens) => {
      app.signIn({ kind: 'user', access: tokens.access_token, refresh: tokens.refresh_token, email: tokens.user.email });
      navigate(returnTo, { replace: true });
    },
  });
  return (
    <AuthFrame title={t('auth.registerTitle')}>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          register.mutate();
        }}
      >
        <TextField label={t('auth.name')} autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
        <TextField label={t('auth.email')} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <TextField
          label={t('auth.password')}
          type="password"
          autoComplete="new-password"
          minLength={8}
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          hint={t('auth.passwordRule')}
        />
        {register.error && <ErrorBox error={register.error} />}
        <Button kind="primary" type="submit" busy={register.isPending}>
          {t('auth.register')}
        </Button>
      </form>
      <p className="muted">
        {t('auth.haveAccount')} <Link to="/sign-in" state={{ from: returnTo }}>{t('auth.signIn')}</Link>
      </p>
    </AuthFrame>
  );
}

export function CreateFirstOrganization() {
  const { t } = useI18n();
  const app = useApp();
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const create = useMutation({
    mutationFn: () => app.api.post<Organization>('/api/organizations', { name: name.trim() }),
    onSuccess: (org) => {
      app.setOrg(org.id);
      return queryClient.invalidateQueries({ queryKey: ['organizations'] });
    },
  });
  return (
    <AuthFrame title={t('org.createFirstTitle')}>
      <p className="muted">{t('org.createFirstBody')}</p>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <TextField label={t('org.name')} required value={name} onChange={(e) => setName(e.target.value)} />
        {create.error && <ErrorBox error={create.error} />}
        <Button kind="primary" type="submit" busy={create.isPending}>
          {t('org.create')}
        </Button>
      </form>
      <button type="button" className="link-btn" onClick={() => app.signOut()}>
        {t('auth.signOut')}
      </button>
    </AuthFrame>
  );
}
