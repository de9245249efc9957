// Settings: the organization (name, plan — owner), ownership transfer, leaving or deleting it;
// and this browser's preferences (language, theme).
import { useState } from 'react';
import { useNavigate } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useApp } from '../app-state';
import { useI18n } from '../i18n';
import { keys } from '../api/queries';
import { PageHeader } from '../components/Layout';
import { Button, Card, Confirm, SelectField, TextField, SubmitRow } from '../components/ui';
import { useTheme } from '../theme';
import type { Me, Member, Organization, Plan } from '../api/types';

export default function Settings() {
  const { t } = useI18n();
  const app = useApp();
  return (
    <>
      <PageHeader title={t('settings.title')} subtitle={t('settings.subtitle')} />
      <Preferences />
      {app.org && app.isOwner && <OrganizationSettings key={app.org.id} org={app.org} />}
      {app.org && <DangerZone org={app.org} />}
    </>
  );
}

function Preferences() {
  const { t, lang, setLang } = useI18n();
  const [theme, setTheme] = useTheme();
  return (
    <Card title={t('settings.preferences')}>
      <div className="grid-form">
        <SelectField
          label={t('settings.language')}
          value={lang}
          onChange={(e) => setLang(e.target.value as 'en' | 'zh')}
          options={[
            { value: 'en', label: 'English' },
            { value: 'zh', label: '简体中文' },
          ]}
        />
        <SelectField
          label={t('settings.theme')}
          value={theme}
          onChange={(e) => setTheme(e.target.value as 'light' | 'dark')}
          options={[
            { value: 'light', label: t('settings.light') },
            { value: 'dark', label: t('settings.dark') },
          ]}
        />
      </div>
    </Card>
  );
}

function OrganizationSettings({ org }: { org: Organization }) {
  const { t } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [name, setName] = useState(org.name);
  const [plan, setPlan] = useState(org.plan);
  const plans = useQuery({ queryKey: keys.plans, queryFn: () => api.get<Plan[]>('/api/organizations/plans') });
  const save = useMutation({
    mutationFn: () => api.patch<Organization>(`/api/organizations/${org.id}`, { ...(name.trim() !== org.name ? { name: name.trim() } : {}), ...(plan !== org.plan ? { plan } : {}) }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['organizations'] }),
  });
  return (
    <Card title={t('settings.organization')}>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <div className="grid-form">
          <TextField label={t('org.name')} required value={name} onChange={(e) => setName(e.target.value)} />
          <SelectField
            label={t('settings.plan')}
            value={plan}
            onChange={(e) => setPlan(e.target.value)}
            options={(plans.data ?? [{ plan: org.plan } as Plan]).map((p) => ({ value: p.plan, label: t(`plan.${p.plan}` as 'plan.free') }))}
          />
        </div>
        <p className="muted small">{t('settings.defaultsLater')}</p>
        <SubmitRow mutation={save} label={t('common.save')} />
      </form>
      <Transfer org={org} />
    </Card>
  );
}

function Transfer({ org }: { org: Organization }) {
  const { t } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [to, setTo] = useState('');
  const [confirming, setConfirming] = useState(false);
  const members = useQuery({ queryKey: keys.members(org.id), queryFn: () => api.get<Member[]>(`/api/organizations/${org.id}/members`) });
  const candidates = (members.data ?? []).filter((m) => m.role !== 'owner');
  const transfer = useMutation({
    mutationFn: () => api.post(`/api/organizations/${org.id}/transfer`, { user_id: Number(to) }),
    onSuccess: async () => {
      setConfirming(false);
      await queryClient.invalidateQueries();
    },
  });
  if (candidates.length === 0) return null;
  return (
    <div className="form sub-section">
      <h3>{t('settings.transfer')}</h3>
      <div className="field-row">
        <SelectField
          label={t('settings.newOwner')}
          value={to}
          onChange={(e) => setTo(e.target.value)}
          options={[{ value: '', label: '—' }, ...candidates.map((m) => ({ value: String(m.user_id), label: m.email }))]}
        />
        <Button disabled={!to} onClick={() => setConfirming(true)}>
          {t('settings.transferButton')}
        </Button>
      </div>
      <Confirm
        open={confirming}
        title={t('settings.transfer')}
        body={t('settings.transferBody', { email: candidates.find((m) => String(m.user_id) === to)?.email ?? '' })}
        confirmLabel={t('settings.transferButton')}
        busy={transfer.isPending}
        error={transfer.error}
        onConfirm={() => transfer.mutate()}
        onClose={() => setConfirming(false)}
      />
    </div>
  );
}

function DangerZone({ org }: { org: Organization }) {
  const { t } = useI18n();
  const api = useApi();
  const app = useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [confirm, setConfirm] = useState<'leave' | 'delete' | null>(null);
  const me = useQuery({ queryKey: keys.me, queryFn: () => api.get<Me>('/api/users/me'), enabled: app.session?.kind === 'user' });
  const done = async () => {
    setConfirm(null);
    await queryClient.invalidateQueries({ queryKey: ['organizations'] });
    navigate('/');
  };
  const leave = useMutation({ mutationFn: () => api.delete(`/api/organizations/${org.id}/members/${me.data?.user.id}`), onSuccess: done });
  const remove = useMutation({ mutationFn: () => api.delete(`/api/organizations/${org.id}`), onSuccess: done });
  const canLeave = app.session?.kind === 'user' && !app.isOwner && me.data;
  const canDelete = app.isOwner && org.id !== 1;
  if (!canLeave && !canDelete) return null;
  return (
    <Card title={t('settings.danger')} className="danger">
      <div className="row">
        {canLeave && (
          <Button kind="danger" onClick={() => setConfirm('leave')}>
            {t('settings.leave')}
          </Button>
        )}
        {canDelete && (
          <Button kind="danger" onClick={() => setConfirm('delete')}>
            {t('settings.deleteOrg')}
          </Button>
        )}
      </div>
      <Confirm
        open={confirm !== null}
        title={confirm === 'delete' ? t('settings.deleteOrg') : t('settings.leave')}
        body={confirm === 'delete' ? t('settings.deleteOrgBody', { name: org.name }) : t('settings.leaveBody', { name: org.name })}
        confirmLabel={confirm === 'delete' ? t('common.delete') : t('settings.leave')}
        busy={leave.isPending || remove.isPending}
        error={leave.error ?? remove.error}
        onConfirm={() => (confirm === 'delete' ? remove.mutate() : leave.mutate())}
        onClose={() => setConfirm(null)}
      />
    </Card>
  );
}
