// The organization: plan usage against its limits, members and roles, invitations (a copyable
// link shown once, expiry, cancel).
import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApi, useApp } from '../app-state';
import { useI18n } from '../i18n';
import { fetchers, keys } from '../api/queries';
import { PageHeader } from '../components/Layout';
import { Badge, Button, Card, Confirm, CopyButton, EmptyState, ErrorBox, Modal, QueryView, SelectField, TextField, Table } from '../components/ui';
import { formatDateTime, formatNumber, formatRelative, utcDay } from '../format';
import type { Invitation, Member, Plan, Role } from '../api/types';

export default function OrganizationPage() {
  const { t } = useI18n();
  const app = useApp();
  const org = app.org;
  if (!org) return null;
  return (
    <>
      <PageHeader title={org.name} subtitle={t('org.subtitle', { plan: t(`plan.${org.plan}` as 'plan.free') })} />
      <PlanUsage />
      <Members />
      {app.isAdmin && <Invitations />}
    </>
  );
}

function Meter({ label, used, limit }: { label: string; used: number | null; limit: number }) {
  const { lang } = useI18n();
  const ratio = used === null ? 0 : Math.min(1, used / limit);
  return (
    <div className="meter">
      <div className="meter-head">
        <span>{label}</span>
        <span className="num">
          {used === null ? '—' : formatNumber(used, lang)} / {formatNumber(limit, lang)}
        </span>
      </div>
      <div className="meter-track" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={limit} aria-valuenow={used ?? 0}>
        <div className={`meter-fill ${ratio >= 0.9 ? 'bad' : ratio >= 0.7 ? 'warn' : ''}`} style={{ width: `${ratio * 100}%` }} />
      </div>
    </div>
  );
}

function PlanUsage() {
  const { t } = useI18n();
  const api = useApi();
  const app = useApp();
  const org = app.org!;
  const plans = useQuery({ queryKey: keys.plans, queryFn: () => api.get<Plan[]>('/api/organizations/plans') });
  const members = useQuery({ queryKey: keys.members(org.id), queryFn: () => api.get<Member[]>(`/api/organizations/${org.id}/members`) });
  const gatewayKeys = useQuery({ queryKey: keys.gatewayKeys, queryFn: () => fetchers.gatewayKeys(api), enabled: app.isAdmin });
  const today = useQuery({ queryKey: keys.dashboard(1), queryFn: () => fetchers.dashboard(api, 1), enabled: app.isAdmin });
  const plan = plans.data?.find((p) => p.plan === org.plan);
  const todayRequests = today.data ? (today.data.by_day.find((d) => d.day === utcDay(Date.now()))?.requests ?? 0) : null;
  return (
    <Card title={t('org.planUsage')}>
      {plans.error && <ErrorBox error={plans.error} />}
      {plan && (
        <div className="meters">
          <Meter label={t('org.members')} used={members.data?.length ?? null} limit={plan.members} />
          {app.isAdmin && <Meter label={t('org.gatewayKeys')} used={gatewayKeys.data?.length ?? null} limit={plan.gateway_keys} />}
          {app.isAdmin && <Meter label={t('org.dailyRequests')} used={todayRequests} limit={plan.daily_requests} />}
        </div>
      )}
    </Card>
  );
}

function Members() {
  const { t, lang } = useI18n();
  const api = useApi();
  const app = useApp();
  const org = app.org!;
  const queryClient = useQueryClient();
  const [removing, setRemoving] = useState<Member | null>(null);
  const members = useQuery({ queryKey: keys.members(org.id), queryFn: () => api.get<Member[]>(`/api/organizations/${org.id}/members`) });
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.members(org.id) });
  const change = useMutation({
    mutationFn: ({ uid, role }: { uid: number; role: Role }) => api.patch(`/api/organizations/${org.id}/members/${uid}`, { role }),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (m: Member) => api.delete(`/api/organizations/${org.id}/members/${m.user_id}`),
    onSuccess: async () => {
      await refresh();
      setRemoving(null);
    },
  });
  return (
    <Card title={t('org.members')}>
      {change.error && <ErrorBox error={change.error} />}
      <Confirm
        open={removing !== null}
        title={t('org.removeTitle', { email: removing?.email ?? '' })}
        body={t('org.removeBody')}
        confirmLabel={t('common.remove')}
        busy={remove.isPending}
        error={remove.error}
        onConfirm={() => removing && remove.mutate(removing)}
        onClose={() => setRemoving(null)}
      />
      <QueryView query={members} empty={(d) => (d.length === 0 ? <EmptyState title={t('org.noMembers')} /> : null)}>
        {(rows) => (
          <Table columns={[{ label: t('auth.email') }, { label: t('common.name') }, { label: t('org.role') }, { label: t('org.joined') }, app.isAdmin && { label: t('common.actions'), hidden: true }]} testId="members-table">
                {rows.map((m) => (
                  <tr key={m.user_id}>
                    <td data-label={t('auth.email')}>{m.email}</td>
                    <td data-label={t('common.name')}>{m.name || '—'}</td>
                    <td data-label={t('org.role')}>
                      {app.isAdmin && m.role !== 'owner' ? (
                        <select
                          aria-label={t('org.roleOf', { email: m.email })}
                          value={m.role}
                          onChange={(e) => change.mutate({ uid: m.user_id, role: e.target.value as Role })}
                        >
                          <option value="admin">{t('role.admin')}</option>
                          <option value="member">{t('role.member')}</option>
                        </select>
                      ) : (
                        <Badge tone={m.role === 'owner' ? 'info' : 'muted'}>{t(`role.${m.role}`)}</Badge>
                      )}
                    </td>
                    <td data-label={t('org.joined')}>{formatDateTime(m.created_at, lang)}</td>
                    {app.isAdmin && (
                      <td className="row-actions">
                        {m.role !== 'owner' && (
                          <Button kind="ghost" onClick={() => setRemoving(m)}>
                            {t('common.remove')}
                          </Button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </Table>
        )}
      </QueryView>
    </Card>
  );
}

export function invitationLink(token: string, origin = window.location.origin) {
  return `${origin}/invite/${encodeURIComponent(token)}`;
}

function invitationState(inv: Invitation, now = Date.now()): 'accepted' | 'cancelled' | 'expired' | 'pending' {
  if (inv.accepted_at) return 'accepted';
  if (inv.cancelled_at) return 'cancelled';
  if (inv.expires_at <= now) return 'expired';
  return 'pending';
}

function Invitations() {
  const { t, lang } = useI18n();
  const api = useApi();
  const org = useApp().org!;
  const queryClient = useQueryClient();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [created, setCreated] = useState<Invitation | null>(null);
  const [cancelling, setCancelling] = useState<Invitation | null>(null);
  const list = useQuery({ queryKey: keys.invitations(org.id), queryFn: () => api.get<Invitation[]>(`/api/organizations/${org.id}/invitations`) });
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.invitations(org.id) });
  const invite = useMutation({
    mutationFn: () => api.post<Invitation>(`/api/organizations/${org.id}/invitations`, { email: email.trim(), role }),
    onSuccess: async (inv) => {
      setCreated(inv);
      setEmail('');
      await refresh();
    },
  });
  const cancel = useMutation({
    mutationFn: (inv: Invitation) => api.delete(`/api/organizations/${org.id}/invitations/${inv.id}`),
    onSuccess: async () => {
      await refresh();
      setCancelling(null);
    },
  });
  const tones = { accepted: 'good', cancelled: 'muted', expired: 'muted', pending: 'info' } as const;
  return (
    <Card title={t('org.invitations')}>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          invite.mutate();
        }}
      >
        <TextField label={t('auth.email')} type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <SelectField
          label={t('org.role')}
          value={role}
          onChange={(e) => setRole(e.target.value as Role)}
          options={[
            { value: 'member', label: t('role.member') },
            { value: 'admin', label: t('role.admin') },
          ]}
        />
        <Button kind="primary" type="submit" busy={invite.isPending}>
          {t('org.invite')}
        </Button>
      </form>
      {invite.error && <ErrorBox error={invite.error} />}
      {created?.token && (
        <Modal open title={t('org.inviteCreated')} onClose={() => setCreated(null)} footer={<Button kind="primary" onClick={() => setCreated(null)}>{t('common.done')}</Button>}>
          <p>{t('org.inviteLinkBody', { email: created.email, when: formatDateTime(created.expires_at, lang) })}</p>
          <div className="key-reveal">
            <code data-testid="invite-link">{invitationLink(created.token)}</code>
            <CopyButton text={invitationLink(created.token)} />
          </div>
          <p className="warn-text small">{t('org.inviteOnce')}</p>
        </Modal>
      )}
      <Confirm
        open={cancelling !== null}
        title={t('org.cancelInviteTitle', { email: cancelling?.email ?? '' })}
        body={t('org.cancelInviteBody')}
        confirmLabel={t('org.cancelInvite')}
        busy={cancel.isPending}
        error={cancel.error}
        onConfirm={() => cancelling && cancel.mutate(cancelling)}
        onClose={() => setCancelling(null)}
      />
      <QueryView query={list} empty={(d) => (d.length === 0 ? <p className="muted">{t('org.noInvitations')}</p> : null)}>
        {(rows) => (
          <ul className="list">
            {rows.map((inv) => {
              const state = invitationState(inv);
              return (
                <li key={inv.id}>
                  <span>{inv.email}</span>
                  <Badge>{t(`role.${inv.role}`)}</Badge>
                  <span className="spacer" />
                  {state === 'pending' && <span className="muted small">{t('org.expires', { when: formatRelative(inv.expires_at, lang) })}</span>}
                  <Badge tone={tones[state]}>{t(`invite.state.${state}`)}</Badge>
                  {state === 'pending' && (
                    <Button kind="ghost" onClick={() => setCancelling(inv)}>
                      {t('org.cancelInvite')}
                    </Button>
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </QueryView>
    </Card>
  );
}
