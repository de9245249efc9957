// Key components: errors show the API's message, destructive actions ask first, the copy
// button copies, the pager moves, the credential fields follow the platform.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { I18nProvider } from '../i18n';
import { ApiError } from '../api/client';
import { Confirm, CopyButton, ErrorBox, Pager } from './ui';
import { CredentialFields, emptyCredential, type CredentialValues } from './CredentialFields';

afterEach(cleanup);

const inLang = (ui: React.ReactNode, lang: 'en' | 'zh' = 'en') => render(<I18nProvider lang={lang}>{ui}</I18nProvider>);

describe('ErrorBox', () => {
  it('shows the API message under a status title', () => {
    inLang(<ErrorBox error={new ApiError(403, 'forbidden', 'plan_limit_members: the free plan allows 3')} />);
    expect(screen.getByRole('alert').textContent).toContain('Your role does not allow this');
    expect(screen.getByRole('alert').textContent).toContain('plan_limit_members: the free plan allows 3');
  });

  it('speaks Chinese when asked', () => {
    inLang(<ErrorBox error={new ApiError(0, 'network_error', 'fetch failed')} />, 'zh');
    expect(screen.getByRole('alert').textContent).toContain('无法连接网关');
  });
});

describe('Confirm', () => {
  it('calls onConfirm only from its confirm button', () => {
    const onConfirm = vi.fn();
    const onClose = vi.fn();
    inLang(<Confirm open title="Delete it?" body="Really?" confirmLabel="Delete" onConfirm={onConfirm} onClose={onClose} />);
    fireEvent.click(screen.getByText('Cancel'));
    expect(onClose).toHaveBeenCalledOnce();
    expect(onConfirm).not.toHaveBeenCalled();
    fireEvent.click(screen.getByText('Delete'));
    expect(onConfirm).toHaveBeenCalledOnce();
  });
});

describe('CopyButton', () => {
  it('writes the text to the clipboard and says so', async () => {
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    inLang(<CopyButton text="ag-123" />);
    fireEvent.click(screen.getByRole('button'));
    await waitFor(() => expect(screen.getByRole('button').textContent).toBe('Copied!'));
    expect(writeText).toHaveBeenCalledWith('ag-123');
  });
});

describe('Pager', () => {
  it('moves between pages and stops at the ends', () => {
    const onPage = vi.fn();
    inLang(<Pager page={1} pageSize={50} total={120} onPage={onPage} />);
    expect(screen.getByText('Page 1 of 3 · 120 in all')).toBeTruthy();
    expect((screen.getByText(/Previous/) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByText(/Next/));
    expect(onPage).toHaveBeenCalledWith(2);
  });
});

function CredentialHarness({ platform }: { platform: string }) {
  const [value, setValue] = useState<CredentialValues>(emptyCredential(platform));
  return <CredentialFields platform={platform} value={value} onChange={setValue} />;
}

describe('CredentialFields', () => {
  it('asks a generic provider for an API key only', () => {
    inLang(<CredentialHarness platform="openai-compatible" />);
    expect(screen.getByLabelText('API key')).toBeTruthy();
    expect(screen.queryByLabelText('Sign in with')).toBeNull();
  });

  it('lets a New API panel switch between token, cookie and password', () => {
    inLang(<CredentialHarness platform="new-api" />);
    expect(screen.getByLabelText('Access token')).toBeTruthy();
    expect(screen.getByLabelText('Panel user ID')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Sign in with'), { target: { value: 'password' } });
    expect(screen.getByLabelText('Username (Sub2API: email)')).toBeTruthy();
    expect(screen.getByLabelText('Password')).toBeTruthy();
    expect(screen.queryByLabelText('Access token')).toBeNull();
  });

  it('asks AnyRouter for its session cookie', () => {
    inLang(<CredentialHarness platform="anyrouter" />);
    expect(screen.getByLabelText('Session cookie')).toBeTruthy();
  });
});
