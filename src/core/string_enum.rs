//! One macro for the closed enums that the API, D1 and the UI name by a string: each variant
//! is written once with its name, and the macro gives `ALL`, `NAMES`, `as_str` and `parse`
//! (and, with `serde`, (de)serialization by that name).

/// Declares a string-named enum: `Variant = "name",` per variant. Put `#[serde_by_name]` first
/// to (de)serialize it by its names (an unknown name is serde's `unknown variant` error).
macro_rules! string_enum {
    (
        #[serde_by_name]
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }
    ) => {
        $crate::core::string_enum::string_enum! {
            $(#[$meta])* $vis enum $name { $($(#[$vmeta])* $variant = $text,)+ }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                $name::parse(&name)
                    .ok_or_else(|| serde::de::Error::unknown_variant(&name, &$name::NAMES))
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];
            /// Every variant's name, in declaration order.
            pub const NAMES: [&'static str; [$($text),+].len()] = [$($text),+];

            /// The name used in the API, D1 and the UI.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The variant with this exact name.
            pub fn parse(name: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|v| v.as_str() == name)
            }
        }
    };
}

pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    string_enum! {
        #[serde_by_name]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Color {
            Red = "red",
            /// A documented variant.
            DarkBlue = "dark-blue",
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_fail() {
        assert_eq!(Color::ALL, [Color::Red, Color::DarkBlue]);
        assert_eq!(Color::NAMES, ["red", "dark-blue"]);
        for c in Color::ALL {
            assert_eq!(Color::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Color>(&json).unwrap(), c);
        }
        assert_eq!(Color::parse("Red"), None);
        let err = serde_json::from_str::<Color>("\"green\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown variant `green`, expected `red` or `dark-blue`"),
            "{err}"
        );
    }
}
