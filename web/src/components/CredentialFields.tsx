// The credential inputs a platform takes (token, session cookie, username/password or API key);
// they change with the platform and the chosen kind.
import { useT } from '../i18n';
import { credentialKinds, takesUserId, type CredentialKind } from '../platforms';
import { SelectField, TextField } from './ui';

export interface CredentialValues {
  kind: CredentialKind;
  access_token: string;
  cookie: string;
  username: string;
  password: string;
  api_key: string;
  user_id: string;
}

export const emptyCredential = (platform: string): CredentialValues => ({
  kind: credentialKinds(platform)[0],
  access_token: '',
  cookie: '',
  username: '',
  password: '',
  api_key: '',
  user_id: '',
});

export function CredentialFields({
  platform,
  value,
  onChange,
  optional,
}: {
  platform: string;
  value: CredentialValues;
  onChange: (v: CredentialValues) => void;
  optional?: boolean;
}) {
  const t = useT();
  const kinds = credentialKinds(platform);
  const kind = kinds.includes(value.kind) ? value.kind : kinds[0];
  const set = (field: keyof CredentialValues) => (e: { target: { value: string } }) => onChange({ ...value, kind, [field]: e.target.value });
  const required = !optional;
  return (
    <fieldset className="fieldset">
      <legend>{t('stations.credential')}</legend>
      {kinds.length > 1 && (
        <SelectField
          label={t('stations.credentialKind')}
          value={kind}
          onChange={(e) => onChange({ ...value, kind: e.target.value as CredentialKind })}
          options={kinds.map((k) => ({ value: k, label: t(`credential.${k}`) }))}
        />
      )}
      {kind === 'access_token' && (
        <TextField label={t('credential.access_token')} type="password" autoComplete="off" required={required} value={value.access_token} onChange={set('access_token')} hint={t('credential.accessTokenHint')} />
      )}
      {kind === 'cookie' && (
        <TextField label={t('credential.cookie')} type="password" autoComplete="off" required={required} value={value.cookie} onChange={set('cookie')} hint={t('credential.cookieHint')} />
      )}
      {kind === 'password' && (
        <>
          <TextField label={t('credential.username')} autoComplete="off" required={required} value={value.username} onChange={set('username')} />
          <TextField label={t('auth.password')} type="password" autoComplete="new-password" required={required} value={value.password} onChange={set('password')} />
        </>
      )}
      {kind === 'api_key' && (
        <TextField label={t('credential.api_key')} type="password" autoComplete="off" required={required} value={value.api_key} onChange={set('api_key')} />
      )}
      {takesUserId(platform, kind) && (
        <TextField label={t('credential.userId')} inputMode="numeric" pattern="[0-9]*" value={value.user_id} onChange={set('user_id')} hint={t('credential.userIdHint')} />
      )}
    </fieldset>
  );
}
