// Snippets carry the key and the gateway URL for every client.
import { describe, expect, it } from 'vitest';
import { snippets } from './snippets';

describe('snippets', () => {
  it('covers every client with the key and the right base URL', () => {
    const all = snippets('https://gw.example/', 'ag-secret');
    expect(all.map((s) => s.id)).toEqual(['curl', 'openai-python', 'openai-node', 'anthropic', 'gemini', 'claude-code', 'codex']);
    for (const s of all) expect(s.code, s.id).toContain('ag-secret');
    const byId = Object.fromEntries(all.map((s) => [s.id, s.code]));
    expect(byId.curl).toContain('https://gw.example/v1/chat/completions');
    expect(byId['openai-python']).toContain('base_url="https://gw.example/v1"');
    // Anthropic and Gemini SDKs add their own /v1 and /v1beta.
    expect(byId.anthropic).toContain('base_url="https://gw.example"');
    expect(byId.gemini).toContain('base_url="https://gw.example"');
    expect(byId['claude-code']).toContain('ANTHROPIC_BASE_URL="https://gw.example"');
    expect(byId.codex).toContain('base_url = "https://gw.example/v1"');
  });
});
