//! The wire dialects the gateway speaks, shared by the relay (which endpoint was called) and
//! the converters (which format a channel serves).

use crate::core::string_enum::string_enum;

string_enum! {
    /// One API wire format, by its name in station overrides. Closed on purpose: every
    /// converter matches on it exhaustively.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Dialect {
        /// OpenAI `POST /v1/chat/completions`.
        OpenAiChat = "openai-chat",
        /// OpenAI legacy `POST /v1/completions`.
        OpenAiCompletions = "openai-completions",
        /// OpenAI `POST /v1/responses`.
        OpenAiResponses = "openai-responses",
        /// Anthropic `POST /v1/messages`.
        AnthropicMessages = "anthropic-messages",
        /// Gemini `POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent`.
        Gemini = "gemini",
    }
}

/// The vendor behind a dialect: whose servers mint an opaque blob (blobs never cross to another
/// vendor) and whose error bodies a client expects. All three OpenAI dialects share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
}

/// Which family of wire formats a response belongs to: what its usage reports, stream ends,
/// keep-alive and in-band error frames look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFamily {
    /// Chat Completions, legacy Completions, embeddings and the other JSON endpoints.
    OpenAi,
    /// `/v1/responses`: named SSE events, `input_tokens`/`output_tokens` usage.
    OpenAiResponses,
    Anthropic,
    Gemini,
}

impl WireFamily {
    /// The dialect whose channel paths a non-conversational endpoint of this family follows
    /// (every OpenAI endpoint lives beside Chat).
    pub fn home_dialect(self) -> Dialect {
        match self {
            WireFamily::OpenAi | WireFamily::OpenAiResponses => Dialect::OpenAiChat,
            WireFamily::Anthropic => Dialect::AnthropicMessages,
            WireFamily::Gemini => Dialect::Gemini,
        }
    }
}

impl Dialect {
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

    /// The wire family of this dialect's responses.
    pub fn wire_family(self) -> WireFamily {
        match self {
            Dialect::OpenAiChat | Dialect::OpenAiCompletions => WireFamily::OpenAi,
            Dialect::OpenAiResponses => WireFamily::OpenAiResponses,
            Dialect::AnthropicMessages => WireFamily::Anthropic,
            Dialect::Gemini => WireFamily::Gemini,
        }
    }

    /// The names [`Dialect::parse`] accepts, for error messages.
    pub fn names() -> String {
        Dialect::NAMES.join(", ")
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

    #[test]
    fn projections_agree() {
        for d in Dialect::ALL {
            let home = d.wire_family().home_dialect();
            assert_eq!(home.provider(), d.provider(), "{d:?}");
            assert_eq!(home.wire_family().home_dialect(), home);
        }
        assert_eq!(Dialect::OpenAiCompletions.wire_family(), WireFamily::OpenAi);
        assert_eq!(
            WireFamily::OpenAiResponses.home_dialect(),
            Dialect::OpenAiChat
        );
    }
}
