// The signed-in frame: navigation (by role), organization switcher, language and theme
// toggles, sign-out; collapses to a menu button on phone-width screens.
import { useState, type ReactNode } from 'react';
import { Link, NavLink, Outlet, useLocation } from 'react-router';
import { useApp } from '../app-state';
import { useI18n, type MessageKey } from '../i18n';
import { useTheme } from '../theme';
import { Card, EmptyState } from './ui';

interface NavItem {
  to: string;
  label: MessageKey;
  icon: string;
  admin?: boolean;
}

const NAV: NavItem[] = [
  { to: '/', label: 'nav.dashboard', icon: '▦', admin: true },
  { to: '/stations', label: 'nav.stations', icon: '⛁', admin: true },
  { to: '/routes', label: 'nav.routes', icon: '⇄' },
  { to: '/keys', label: 'nav.keys', icon: '⚷' },
  { to: '/logs', label: 'nav.logs', icon: '☰' },
  { to: '/jobs', label: 'nav.jobs', icon: '⟳', admin: true },
  { to: '/organization', label: 'nav.organization', icon: '⚑' },
  { to: '/settings', label: 'nav.settings', icon: '⚙' },
  { to: '/profile', label: 'nav.profile', icon: '☺' },
];

export function Layout() {
  const { t, lang, setLang } = useI18n();
  const app = useApp();
  const [theme, setTheme] = useTheme();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const items = NAV.filter((n) => !n.admin || app.isAdmin);
  const who = app.session?.kind === 'user' ? app.session.email : t('auth.instanceAdmin');

  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t('nav.skip')}
      </a>
      <header className="topbar">
        <button
          type="button"
          className="icon-btn menu-btn"
          aria-label={t('nav.menu')}
          aria-expanded={menuOpen}
          aria-controls="sidenav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          ☰
        </button>
        <div className="brand">
          <span className="logo" aria-hidden="true">
            ◭
          </span>
          {t('app.name')}
        </div>
        <div className="topbar-tools">
          {app.organizations.length > 0 && (
            <label className="org-switch">
              <span className="sr-only">{t('nav.organization')}</span>
              <select
                aria-label={t('nav.switchOrg')}
                value={app.org?.id ?? ''}
                onChange={(e) => app.setOrg(Number(e.target.value))}
                data-testid="org-switch"
              >
                {app.organizations.map((o) => (
                  <option key={o.id} value={o.id}>
                    {o.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          <button
            type="button"
            className="icon-btn"
            onClick={() => setLang(lang === 'en' ? 'zh' : 'en')}
            aria-label={t('nav.language')}
            title={t('nav.language')}
            data-testid="lang-toggle"
          >
            {lang === 'en' ? '中' : 'EN'}
          </button>
          <button
            type="button"
            className="icon-btn"
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
            aria-label={theme === 'dark' ? t('nav.themeLight') : t('nav.themeDark')}
            title={theme === 'dark' ? t('nav.themeLight') : t('nav.themeDark')}
            data-testid="theme-toggle"
          >
            {theme === 'dark' ? '☀' : '☾'}
          </button>
        </div>
      </header>
      <nav id="sidenav" className={`sidenav ${menuOpen ? 'open' : ''}`} aria-label={t('nav.main')}>
        <ul>
          {items.map((n) => (
            <li key={n.to}>
              <NavLink to={n.to} end={n.to === '/'} onClick={() => setMenuOpen(false)}>
                <span className="nav-icon" aria-hidden="true">
                  {n.icon}
                </span>
                {t(n.label)}
              </NavLink>
            </li>
          ))}
        </ul>
        <div className="sidenav-foot">
          <div className="who" title={who}>
            {who}
            {app.role && <span className="role">{t(`role.${app.role}`)}</span>}
          </div>
          <button type="button" className="btn btn-ghost" onClick={() => app.signOut()}>
            {t('auth.signOut')}
          </button>
        </div>
      </nav>
      <main id="main" className="content" key={`${app.org?.id ?? 0}-${location.pathname}`}>
        <Outlet />
      </main>
    </div>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: string; actions?: ReactNode }) {
  return (
    <div className="page-head">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="subtitle">{subtitle}</p>}
      </div>
      {actions && <div className="actions">{actions}</div>}
    </div>
  );
}

/** An empty state whose next step is adding a station. */
export function AddStationFirst({ title, body }: { title: string; body: string }) {
  const { t } = useI18n();
  return (
    <Card>
      <EmptyState
        title={title}
        body={body}
        action={
          <Link className="btn btn-primary" to="/stations?add=1">
            {t('stations.addFirst')}
          </Link>
        }
      />
    </Card>
  );
}
