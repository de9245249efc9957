// An invitation link (/invite/:token): what it is for, then sign in or register with the
// invited email and join.
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useApp } from '../app-state';
import { useI18n } from '../i18n';
import { Button, ErrorBox, Loading } from '../components/ui';
import { AuthFrame } from './Auth';
import { formatDateTime } from '../format';
import type { InvitationLookup } from '../api/types';

export function AcceptInvitation() {
  const { t, lang } = useI18n();
  const { token = '' } = useParams();
  const app = useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const lookup = useQuery({
    queryKey: ['invitation', token],
    queryFn: () => app.api.request<InvitationLookup>('GET', `/api/invitations/${encodeURIComponent(token)}`, { anonymous: true }),
  });
  const accept = useMutation({
    mutationFn: () => app.api.post<{ organization_id?: number; id?: number }>(`/api/invitations/${encodeURIComponent(token)}/accept`),
    onSuccess: async (data) => {
      await queryClient.invalidateQueries({ queryKey: ['organizations'] });
      const id = data?.organization_id ?? data?.id;
      if (id) app.setOrg(id);
      navigate('/', { replace: true });
    },
  });
  const here = `/invite/${token}`;
  return (
    <AuthFrame title={t('invite.title')}>
        {lookup.isLoading && <Loading />}
        {lookup.error && <ErrorBox error={lookup.error} />}
        {lookup.data && (
          <>
            <p data-testid="invite-summary">
              {t('invite.summary', { org: lookup.data.organization, role: t(`role.${lookup.data.role}`) })}
            </p>
            <p className="muted">{t('invite.expires', { when: formatDateTime(lookup.data.expires_at, lang) })}</p>
            {app.session?.kind === 'user' ? (
              <>
                <p className="muted">{t('invite.signedInAs', { email: app.session.email })}</p>
                {accept.error && <ErrorBox error={accept.error} />}
                <Button kind="primary" busy={accept.isPending} onClick={() => accept.mutate()}>
                  {t('invite.accept')}
                </Button>
              </>
            ) : (
              <>
                <p className="muted">{t('invite.needAccount')}</p>
                <div className="row">
                  <Link className="btn btn-primary" to="/register" state={{ from: here }}>
                    {t('auth.register')}
                  </Link>
                  <Link className="btn btn-secondary" to="/sign-in" state={{ from: here }}>
                    {t('auth.signIn')}
                  </Link>
                </div>
              </>
            )}
          </>
        )}
    </AuthFrame>
  );
}
