// Every message exists in both languages, with the same placeholders, and the Chinese set is
// really translated (not English left in place).
import { describe, expect, it } from 'vitest';
import { en } from './en';
import { zh } from './zh';
import { interpolate, translator } from '.';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
// Technical tokens allowed to stay as they are in Chinese text.
const TECHNICAL = /https?:\/\/\S+|\.dev\.vars|\b(AI|API|ID|IP|URL|CIDR|UTC|Cookie|AUTH_TOKEN|New API|Veloera|AnyRouter|Sub2API|OpenAI|Anthropic|Gemini|OK|p50|p95|session)\b/g;

describe('i18n', () => {
  it('has every key in both languages and nothing extra', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const [key, value] of Object.entries(zh)) expect(value.trim(), key).not.toBe('');
  });

  it('keeps the same placeholders in both languages', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(zh[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it('leaves no English words in the Chinese messages', () => {
    for (const [key, value] of Object.entries(zh)) {
      const rest = value.replace(/\{\w+\}/g, '').replace(TECHNICAL, '');
      expect(rest, key).not.toMatch(/[A-Za-z]{3,}/);
    }
  });

  it('fills placeholders and keeps unknown ones visible', () => {
    expect(interpolate('Page {page} of {pages}', { page: 1, pages: 3 })).toBe('Page 1 of 3');
    expect(interpolate('{a} {b}', { a: 'x' })).toBe('x {b}');
    expect(translator('zh')('common.pageOf', { page: 2, pages: 5, total: 99 })).toBe('第 2 / 5 页 · 共 99 条');
    expect(translator('en')('keys.revokeTitle', { name: 'laptop' })).toBe('Revoke laptop?');
  });
});
