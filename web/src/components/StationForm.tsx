// Add a station (paste a URL, auto-detect the platform, the credential fields follow it) and
// edit one (name, URL, weight, priority, switches). A new station is synced right away.
import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { useApi } from '../app-state';
import { useI18n } from '../i18n';
import { keys } from '../api/queries';
import { PLATFORM_LABELS, PLATFORMS, credentialBody, isVendor } from '../platforms';
import { Button, Checkbox, ErrorBox, Modal, SelectField, TextField } from './ui';
import { CredentialFields, emptyCredential, type CredentialValues } from './CredentialFields';
import { SyncResultView } from './SyncButtons';
import type { Detection, Station, SyncResult } from '../api/types';

function hostName(url: string): string {
  try {
    return new URL(url).hostname.replace(/^www\./, '');
  } catch {
    return '';
  }
}

export function AddStation({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const api = useApi();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [url, setUrl] = useState('');
  const [name, setName] = useState('');
  const [platform, setPlatform] = useState('new-api');
  const [cred, setCred] = useState<CredentialValues>(emptyCredential('new-api'));
  const [weight, setWeight] = useState('10');
  const [priority, setPriority] = useState('0');
  const [checkin, setCheckin] = useState(false);
  const [created, setCreated] = useState<Station | null>(null);

  const detect = useMutation({
    mutationFn: () => api.post<Detection>('/api/provider/detect', { base_url: url.trim() }),
    onSuccess: (d) => {
      setUrl(d.base_url);
      if (d.platform) {
        setPlatform(d.platform);
        setCred(emptyCredential(d.platform));
      }
      if (!name) setName(hostName(d.base_url));
    },
  });
  const sync = useMutation({
    mutationFn: (id: number) => api.post<SyncResult>(`/api/provider/${id}/sync`),
    onSettled: () => Promise.all([queryClient.invalidateQueries({ queryKey: keys.stations }), queryClient.invalidateQueries({ queryKey: keys.routes })]),
  });
  const create = useMutation({
    mutationFn: () =>
      api.post<Station>('/api/provider/', {
        name: name.trim(),
        platform,
        ...(url.trim() ? { base_url: url.trim() } : {}),
        ...credentialBody(cred.kind, cred),
        weight: Number(weight),
        priority: Number(priority),
        checkin_enabled: checkin,
      }),
    onSuccess: (station) => {
      setCreated(station);
      queryClient.invalidateQueries({ queryKey: keys.stations });
      sync.mutate(station.id);
    },
  });

  const close = () => {
    onClose();
    setCreated(null);
    create.reset();
    sync.reset();
    detect.reset();
    setUrl('');
    setName('');
  };

  if (created) {
    return (
      <Modal
        open={open}
        title={t('stations.added', { name: created.name })}
        onClose={close}
        footer={
          <>
            <Button onClick={close}>{t('common.close')}</Button>
            <Button kind="primary" onClick={() => (close(), navigate(`/stations/${created.id}`))}>
              {t('stations.openDetail')}
            </Button>
          </>
        }
      >
        {sync.isPending && (
          <div className="progress" role="status">
            <span className="spinner" aria-hidden="true" /> {t('stations.firstSync')}
          </div>
        )}
        {sync.data && <SyncResultView result={sync.data} />}
        {sync.error && <ErrorBox error={sync.error} />}
      </Modal>
    );
  }

  return (
    <Modal
      open={open}
      title={t('stations.add')}
      onClose={close}
      wide
      footer={
        <>
          <Button onClick={close}>{t('common.cancel')}</Button>
          <Button kind="primary" type="submit" form="add-station" busy={create.isPending}>
            {t('stations.addSubmit')}
          </Button>
        </>
      }
    >
      <form
        id="add-station"
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <div className="field-row">
          <TextField
            label={t('stations.baseUrl')}
            type="url"
            placeholder="https://relay.example.com"
            value={url}
            required={!isVendor(platform)}
            onChange={(e) => setUrl(e.target.value)}
            onBlur={() => url.trim() && !detect.data && !detect.isPending && detect.mutate()}
            hint={t('stations.baseUrlHint')}
          />
          <Button busy={detect.isPending} disabled={!url.trim()} onClick={() => detect.mutate()}>
            {t('stations.detect')}
          </Button>
        </div>
        {detect.data && (
          <div className={`result ${detect.data.platform ? 'result-good' : ''}`} role="status" data-testid="detect-result">
            <strong>
              {detect.data.platform
                ? t('stations.detected', { platform: PLATFORM_LABELS[detect.data.platform] ?? detect.data.platform })
                : t('stations.notDetected')}
            </strong>
            <span className="muted small">{detect.data.evidence}</span>
          </div>
        )}
        {detect.error && <ErrorBox error={detect.error} />}
        <div className="grid-form">
          <SelectField
            label={t('stations.platform')}
            value={platform}
            onChange={(e) => {
              setPlatform(e.target.value);
              setCred(emptyCredential(e.target.value));
            }}
            options={PLATFORMS.map((p) => ({ value: p, label: PLATFORM_LABELS[p] ?? p }))}
          />
          <TextField label={t('common.name')} required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <CredentialFields platform={platform} value={cred} onChange={setCred} />
        <div className="grid-form">
          <TextField label={t('routes.priority')} type="number" min={-1000} max={1000} value={priority} onChange={(e) => setPriority(e.target.value)} hint={t('stations.priorityHint')} />
          <TextField label={t('routes.weight')} type="number" min={0} max={1000} value={weight} onChange={(e) => setWeight(e.target.value)} hint={t('stations.weightHint')} />
        </div>
        <Checkbox label={t('stations.checkinEnabled')} checked={checkin} onChange={(e) => setCheckin(e.target.checked)} />
        {create.error && <ErrorBox error={create.error} />}
      </form>
    </Modal>
  );
}

export function EditStation({ station, open, onClose }: { station: Station; open: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const api = useApi();
  const queryClient = useQueryClient();
  const [name, setName] = useState(station.name);
  const [url, setUrl] = useState(station.base_url);
  const [weight, setWeight] = useState(String(station.weight));
  const [priority, setPriority] = useState(String(station.priority));
  const [enabled, setEnabled] = useState(station.enabled === 1);
  const [checkin, setCheckin] = useState(station.checkin_enabled === 1);
  const save = useMutation({
    mutationFn: () =>
      api.put<Station>(`/api/provider/${station.id}`, {
        name: name.trim(),
        base_url: url.trim(),
        weight: Number(weight),
        priority: Number(priority),
        enabled,
        checkin_enabled: checkin,
      }),
    onSuccess: async () => {
      await Promise.all([queryClient.invalidateQueries({ queryKey: keys.stations }), queryClient.invalidateQueries({ queryKey: keys.routes })]);
      onClose();
    },
  });
  return (
    <Modal
      open={open}
      title={t('stations.edit')}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>{t('common.cancel')}</Button>
          <Button kind="primary" type="submit" form="edit-station" busy={save.isPending}>
            {t('common.save')}
          </Button>
        </>
      }
    >
      <form
        id="edit-station"
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <TextField label={t('common.name')} required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        <TextField label={t('stations.baseUrl')} type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />
        <div className="grid-form">
          <TextField label={t('routes.priority')} type="number" min={-1000} max={1000} value={priority} onChange={(e) => setPriority(e.target.value)} />
          <TextField label={t('routes.weight')} type="number" min={0} max={1000} value={weight} onChange={(e) => setWeight(e.target.value)} />
        </div>
        <Checkbox label={t('common.enabled')} checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />
        <Checkbox label={t('stations.checkinEnabled')} checked={checkin} onChange={(e) => setCheckin(e.target.checked)} />
        {save.error && <ErrorBox error={save.error} />}
      </form>
    </Modal>
  );
}
