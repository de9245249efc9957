// Entry: reads the run-time config, then mounts the console.
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { loadConfig } from './config';
import './styles.css';

loadConfig().then((config) => {
  const root = document.getElementById('root');
  if (root) createRoot(root).render(<App apiBase={config.apiBase} />);
});
