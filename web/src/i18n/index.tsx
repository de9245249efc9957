// Translations: English and Simplified Chinese. Components only ever call `t(key)`; the
// language is remembered in localStorage and applied to <html lang>.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { en, type MessageKey } from './en';
import { zh } from './zh';

export type Lang = 'en' | 'zh';
export const DICTIONARIES: Record<Lang, Record<MessageKey, string>> = { en, zh };
export type { MessageKey };

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

/** `{name}` placeholders filled from `vars`; an unknown placeholder stays visible. */
export function interpolate(template: string, vars?: Record<string, string | number>): string {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

export function translator(lang: Lang): Translate {
  const dict = DICTIONARIES[lang];
  return (key, vars) => interpolate(dict[key] ?? en[key] ?? key, vars);
}

function initialLang(): Lang {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem('ag.lang') : null;
  if (saved === 'en' || saved === 'zh') return saved;
  return typeof navigator !== 'undefined' && navigator.language?.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

interface I18n {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: Translate;
}

const Ctx = createContext<I18n>({ lang: 'en', setLang: () => {}, t: translator('en') });

export function I18nProvider({ children, lang: fixed }: { children: ReactNode; lang?: Lang }) {
  const [lang, setLangState] = useState<Lang>(fixed ?? initialLang);
  const setLang = useCallback((next: Lang) => {
    localStorage.setItem('ag.lang', next);
    setLangState(next);
  }, []);
  const value = useMemo(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    return { lang, setLang, t: translator(lang) };
  }, [lang, setLang]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export const useI18n = () => useContext(Ctx);
export const useT = () => useContext(Ctx).t;
