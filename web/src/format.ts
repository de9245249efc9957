// Formatting of numbers, money, durations and times for the console (locale-aware).
import type { Lang } from './i18n';

const locale = (lang: Lang) => (lang === 'zh' ? 'zh-CN' : 'en-US');

export function formatNumber(n: number | null | undefined, lang: Lang = 'en'): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return new Intl.NumberFormat(locale(lang)).format(n);
}

/** 1234 → "1.2K", 2500000 → "2.5M" (tokens, requests in cards). */
export function formatCompact(n: number | null | undefined, lang: Lang = 'en'): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return new Intl.NumberFormat(locale(lang), { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

/** US dollars: cents for amounts ≥ $1, more digits for the small per-call costs. */
export function formatUsd(n: number | null | undefined, lang: Lang = 'en'): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const abs = Math.abs(n);
  const digits = abs === 0 ? 2 : abs < 0.01 ? 6 : abs < 1 ? 4 : 2;
  return new Intl.NumberFormat(locale(lang), {
    style: 'currency',
    currency: 'USD',
    minimumFractionDigits: 2,
    maximumFractionDigits: digits,
  }).format(n);
}

export function formatPercent(ratio: number | null | undefined, lang: Lang = 'en'): string {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '—';
  return new Intl.NumberFormat(locale(lang), { style: 'percent', maximumFractionDigits: 1 }).format(ratio);
}

/** Milliseconds as "850 ms", "1.25 s", "3 min 20 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return seconds ? `${minutes} min ${seconds} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

export function formatDateTime(ms: number | null | undefined, lang: Lang = 'en'): string {
  if (!ms) return '—';
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: 'medium', timeStyle: 'short' }).format(ms);
}

/** "5 minutes ago", "in 2 hours" — relative to `now`. */
export function formatRelative(ms: number | null | undefined, lang: Lang = 'en', now = Date.now()): string {
  if (!ms) return '—';
  const diff = ms - now;
  const abs = Math.abs(diff);
  const rtf = new Intl.RelativeTimeFormat(locale(lang), { numeric: 'auto' });
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['day', 86_400_000],
    ['hour', 3_600_000],
    ['minute', 60_000],
    ['second', 1000],
  ];
  for (const [unit, size] of units) {
    if (abs >= size || unit === 'second') return rtf.format(Math.round(diff / size), unit);
  }
  return rtf.format(0, 'second');
}

/** A JSON list stored as text (`allowed_models`, `allowed_ips`) as an array; bad text → []. */
export function parseList(raw: string | null | undefined): string[] {
  if (!raw) return [];
  try {
    const v = JSON.parse(raw);
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

/** Comma/space/newline separated input → trimmed, non-empty, unique entries. */
export function splitList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
