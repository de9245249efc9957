// Where the gateway is: `config.json` next to index.html (run time) wins over `VITE_API_BASE`
// (build time); both empty means the console's own origin.
export interface ConsoleConfig {
  apiBase: string;
}

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<ConsoleConfig> {
  const buildTime = (import.meta.env.VITE_API_BASE as string | undefined) ?? '';
  try {
    const res = await fetchImpl(`${import.meta.env.BASE_URL}config.json`, { cache: 'no-store' });
    if (res.ok) {
      const json = (await res.json()) as Partial<ConsoleConfig>;
      if (typeof json.apiBase === 'string' && json.apiBase.trim()) return { apiBase: json.apiBase.trim() };
    }
  } catch {
    // No config file: the build-time value applies.
  }
  return { apiBase: buildTime };
}
