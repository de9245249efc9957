// Profile: name and password of the signed-in user. The instance admin (AUTH_TOKEN) is not a
// user and has no profile.
import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useApp } from '../app-state';
import { useI18n } from '../i18n';
import { keys } from '../api/queries';
import { PageHeader } from '../components/Layout';
import { Card, QueryView, TextField, SubmitRow } from '../components/ui';
import { formatDateTime } from '../format';
import type { Me, User } from '../api/types';

export default function Profile() {
  const { t } = useI18n();
  const app = useApp();
  const api = useApi();
  const me = useQuery({ queryKey: keys.me, queryFn: () => api.get<Me>('/api/users/me'), enabled: app.session?.kind === 'user' });
  if (app.session?.kind !== 'user') {
    return (
      <>
        <PageHeader title={t('profile.title')} />
        <Card>
          <p>{t('profile.adminToken')}</p>
        </Card>
      </>
    );
  }
  return (
    <>
      <PageHeader title={t('profile.title')} subtitle={app.session.email} />
      <QueryView query={me}>{(data) => <ProfileForms me={data} />}</QueryView>
    </>
  );
}

function ProfileForms({ me }: { me: Me }) {
  const { t, lang } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [name, setName] = useState(me.user.name);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const saveName = useMutation({
    mutationFn: () => api.patch<User>('/api/users/me', { name: name.trim() }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.me }),
  });
  const savePassword = useMutation({
    mutationFn: () => {
      if (next !== repeat) return Promise.reject(new Error(t('profile.mismatch')));
      return api.patch<User>('/api/users/me', { password: next, current_password: current });
    },
    onSuccess: () => {
      setCurrent('');
      setNext('');
      setRepeat('');
    },
  });
  return (
    <div className="grid-2">
      <Card title={t('profile.account')}>
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            saveName.mutate();
          }}
        >
          <TextField label={t('auth.email')} value={me.user.email} readOnly />
          <TextField label={t('auth.name')} maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          <p className="muted small">
            {t('profile.since', { when: formatDateTime(me.user.created_at, lang) })} · {t('profile.lastLogin', { when: formatDateTime(me.user.last_login_at, lang) })}
          </p>
          <SubmitRow mutation={saveName} label={t('common.save')} />
        </form>
      </Card>
      <Card title={t('profile.password')}>
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            savePassword.mutate();
          }}
        >
          <TextField label={t('profile.currentPassword')} type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
          <TextField label={t('profile.newPassword')} type="password" autoComplete="new-password" minLength={8} required value={next} onChange={(e) => setNext(e.target.value)} hint={t('auth.passwordRule')} />
          <TextField label={t('profile.repeatPassword')} type="password" autoComplete="new-password" required value={repeat} onChange={(e) => setRepeat(e.target.value)} />
          <SubmitRow mutation={savePassword} label={t('profile.changePassword')} done={t('profile.passwordChanged')} />
          <p className="muted small">{t('profile.sessionsLater')}</p>
        </form>
      </Card>
    </div>
  );
}
