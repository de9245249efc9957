//! The wire dialects the gateway speaks, shared by the relay (which endpoint was called) and
//! the converters (which format a channel serves).

/// One API wire format. Closed on purpose: every converter matches on it exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenAI `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI legacy `POST /v1/completions`.
    OpenAiCompletions,
    /// OpenAI `POST /v1/responses`.
    OpenAiResponses,
    /// Anthropic `POST /v1/messages`.
    AnthropicMessages,
    /// Gemini `POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent`.
    Gemini,
}

/// The vendor behind a dialect: whose servers mint an opaque blob (blobs never cross to another
/// vendor) and whose error bodies a client expects. All three OpenAI dialects share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Dialect {
    pub const ALL: [Dialect; 5] = [
        Dialect::OpenAiChat,
        Dialect::OpenAiCompletions,
        Dialect::OpenAiResponses,
        Dialect::AnthropicMessages,
        Dialect::Gemini,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAiChat => "openai-chat",
            Dialect::OpenAiCompletions => "openai-completions",
            Dialect::OpenAiResponses => "openai-responses",
            Dialect::AnthropicMessages => "anthropic-messages",
            Dialect::Gemini => "gemini",
        }
    }

    pub fn parse(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.as_str() == name)
    }

    /// The vendor that serves this dialect.
    pub fn provider(self) -> Provider {
        match self {
            Dialect::OpenAiChat | Dialect::OpenAiCompletions | Dialect::OpenAiResponses => {
                Provider::OpenAi
            }
            Dialect::AnthropicMessages => Provider::Anthropic,
            Dialect::Gemini => Provider::Gemini,
        }
    }

    /// The names [`Dialect::parse`] accepts, for error messages.
    pub fn names() -> String {
        Dialect::ALL.map(Dialect::as_str).join(", ")
    }
}

// By name ([`Dialect::as_str`]), so the wire names live in one place.
impl serde::Serialize for Dialect {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Dialect {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Dialect::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown dialect `{name}`; one of {}",
                Dialect::names()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Dialect::ALL {
            assert_eq!(Dialect::parse(d.as_str()), Some(d));
        }
        assert_eq!(Dialect::parse("openai"), None);
        let json = serde_json::to_string(&Dialect::ALL).unwrap();
        assert!(json.starts_with(r#"["openai-chat","openai-completions""#));
        assert_eq!(
            serde_json::from_str::<Vec<Dialect>>(&json).unwrap(),
            Dialect::ALL
        );
        assert!(serde_json::from_str::<Dialect>(r#""openai""#).is_err());
    }
}
