// Ready-to-paste configuration for a new gateway key: curl, the OpenAI / Anthropic / Gemini
// SDKs, Claude Code and Codex. Pure functions of the gateway URL, the key and a model.
export interface Snippet {
  id: string;
  label: string;
  language: string;
  code: string;
}

export function snippets(gateway: string, key: string, model = 'gpt-4o-mini'): Snippet[] {
  const base = gateway.replace(/\/+$/, '');
  return [
    {
      id: 'curl',
      label: 'curl',
      language: 'bash',
      code: `curl ${base}/v1/chat/completions \\
  -H "Authorization: Bearer ${key}" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello"}]}'`,
    },
    {
      id: 'openai-python',
      label: 'OpenAI (Python)',
      language: 'python',
      code: `from openai import OpenAI

client = OpenAI(base_url="${base}/v1", api_key="${key}")
reply = client.chat.completions.create(
    model="${model}",
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.choices[0].message.content)`,
    },
    {
      id: 'openai-node',
      label: 'OpenAI (Node)',
      language: 'javascript',
      code: `import OpenAI from 'openai';

const client = new OpenAI({ baseURL: '${base}/v1', apiKey: '${key}' });
const reply = await client.chat.completions.create({
  model: '${model}',
  messages: [{ role: 'user', content: 'Hello' }],
});
console.log(reply.choices[0].message.content);`,
    },
    {
      id: 'anthropic',
      label: 'Anthropic SDK',
      language: 'python',
      code: `import anthropic

client = anthropic.Anthropic(base_url="${base}", api_key="${key}")
message = client.messages.create(
    model="claude-sonnet-4-5",
    max_tokens=1024,
    messages=[{"role": "user", "content": "Hello"}],
)
print(message.content[0].text)`,
    },
    {
      id: 'gemini',
      label: 'Gemini SDK',
      language: 'python',
      code: `from google import genai
from google.genai import types

client = genai.Client(api_key="${key}", http_options=types.HttpOptions(base_url="${base}"))
reply = client.models.generate_content(model="gemini-2.5-flash", contents="Hello")
print(reply.text)`,
    },
    {
      id: 'claude-code',
      label: 'Claude Code',
      language: 'bash',
      code: `export ANTHROPIC_BASE_URL="${base}"
export ANTHROPIC_AUTH_TOKEN="${key}"
claude`,
    },
    {
      id: 'codex',
      label: 'Codex',
      language: 'toml',
      code: `# ~/.codex/config.toml
model = "${model}"
model_provider = "ai-gateway"

[model_providers.ai-gateway]
name = "AI Gateway"
base_url = "${base}/v1"
env_key = "AI_GATEWAY_KEY"
wire_api = "responses"

# then: export AI_GATEWAY_KEY="${key}"`,
    },
  ];
}
