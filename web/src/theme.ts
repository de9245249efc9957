// Light/dark theme: remembered in localStorage, applied as <html data-theme>.
import { useCallback, useState } from 'react';

export type Theme = 'light' | 'dark';

export function currentTheme(): Theme {
  return document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light';
}

export function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setState] = useState<Theme>(currentTheme);
  const set = useCallback((t: Theme) => {
    localStorage.setItem('ag.theme', t);
    document.documentElement.dataset.theme = t;
    setState(t);
  }, []);
  return [theme, set];
}
