// Formatters: money, durations, relative times, lists.
import { describe, expect, it } from 'vitest';
import { formatCompact, formatDuration, formatPercent, formatRelative, formatUsd, parseList, splitList, utcDay } from './format';

describe('formatters', () => {
  it('formats money with more digits for tiny amounts', () => {
    expect(formatUsd(12.5)).toBe('$12.50');
    expect(formatUsd(0.0123)).toBe('$0.0123');
    expect(formatUsd(0.000042)).toBe('$0.000042');
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(null)).toBe('—');
    expect(formatUsd(3, 'zh')).toBe('US$3.00');
  });

  it('formats durations', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1250)).toBe('1.25 s');
    expect(formatDuration(200_000)).toBe('3 min 20 s');
    expect(formatDuration(3_720_000)).toBe('1 h 2 min');
    expect(formatDuration(undefined)).toBe('—');
  });

  it('formats ratios and compact numbers', () => {
    expect(formatPercent(0.9876)).toBe('98.8%');
    expect(formatPercent(null)).toBe('—');
    expect(formatCompact(2_500_000)).toBe('2.5M');
    expect(formatCompact(1234, 'zh')).toBe('1234');
  });

  it('formats relative times in both languages', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(formatRelative(now - 5 * 60_000, 'en', now)).toBe('5 minutes ago');
    expect(formatRelative(now + 2 * 3_600_000, 'en', now)).toBe('in 2 hours');
    expect(formatRelative(now - 5 * 60_000, 'zh', now)).toBe('5分钟前');
    expect(formatRelative(null)).toBe('—');
  });

  it('reads stored JSON lists and splits typed lists', () => {
    expect(parseList('["gpt-4o*","claude-*"]')).toEqual(['gpt-4o*', 'claude-*']);
    expect(parseList('not json')).toEqual([]);
    expect(parseList('')).toEqual([]);
    expect(splitList(' gpt-4o, claude-*\n gpt-4o ')).toEqual(['gpt-4o', 'claude-*']);
  });

  it('names the UTC day', () => {
    expect(utcDay(Date.UTC(2026, 11, 7, 23, 59))).toBe('2026-12-07');
  });
});
