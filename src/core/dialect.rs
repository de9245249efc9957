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

impl Dialect {
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
}
