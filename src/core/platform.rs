//! The platform kinds a station can be: relay panels, generic API dialects, and official
//! vendors (presets of the generic kinds). Each has an adapter in `core::panels`. A leaf.

use crate::core::string_enum::string_enum;

string_enum! {
    #[serde_by_name]
    /// Every kind of station the gateway manages, named as the API, D1 and the UI name it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Platform {
        NewApi = "new-api",
        OneApi = "one-api",
        OneHub = "onehub",
        DoneHub = "done-hub",
        Veloera = "veloera",
        AnyRouter = "anyrouter",
        Sub2Api = "sub2api",
        OpenAiCompatible = "openai-compatible",
        AnthropicCompatible = "anthropic-compatible",
        GeminiCompatible = "gemini-compatible",
        OpenAi = "openai",
        Anthropic = "anthropic",
        Gemini = "gemini",
        DeepSeek = "deepseek",
        Moonshot = "moonshot",
        Zhipu = "zhipu",
        /// Aliyun DashScope, OpenAI-compatible mode.
        Aliyun = "aliyun",
        /// Doubao on Volcengine Ark.
        Doubao = "doubao",
        MiniMax = "minimax",
        ModelScope = "modelscope",
    }
}
