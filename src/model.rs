//! The small vocabularies every layer shares: states, actions, severities, event sources.
//!
//! Each enum has exactly one conversion point to and from its stored and wire text (`as_str`
//! and `parse`), so the database, JSON and the CLI can never disagree on spelling.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in table order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The inverse of `as_str`; exact, lower-case spelling only.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The accepted spellings, for error messages: `a, b or c`.
            pub fn expected() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|value| value.as_str()).collect();
                crate::model::or_list(&names)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::Type::String)
                    .enum_values(Some(Self::ALL.iter().map(|value| value.as_str())))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("`{text}` is not one of {}", $name::expected()))
                })
            }
        }
    };
}

text_enum!(
    /// Where an alert is in its lifecycle.
    State { Open => "open", Acknowledged => "acknowledged", Resolved => "resolved" }
);

text_enum!(
    /// What an event asks to do to an alert.
    Action { Create => "create", Update => "update", Acknowledge => "acknowledge", Resolve => "resolve" }
);

text_enum!(
    /// How bad an alert is, PagerDuty's four levels.
    Severity { Critical => "critical", Error => "error", Warning => "warning", Info => "info" }
);

text_enum!(
    /// Who caused an event: a sender's hook or a person through the API.
    Source { Hook => "hook", Api => "api" }
);

/// Joins names as `a, b or c` for messages that list the accepted values.
pub fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_text() {
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(*state));
        }
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(*action));
        }
        for severity in Severity::ALL {
            assert_eq!(Severity::parse(severity.as_str()), Some(*severity));
        }
        assert_eq!(Severity::parse("Critical"), None);
    }

    #[test]
    fn expected_lists_the_spellings() {
        assert_eq!(Severity::expected(), "critical, error, warning or info");
    }
}
