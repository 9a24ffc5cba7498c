//! How an integration authenticates its sender: the modes of SPEC §2 and the HMAC presets.

use super::Encoding;

/// The token header PagerTree senders use, the default for `token` mode.
pub const DEFAULT_TOKEN_HEADER: &str = "pagertree-token";
/// The header a plain `hmac-sha256` integration reads when none is configured.
pub const DEFAULT_HMAC_HEADER: &str = "x-signature-256";

/// One integration's authentication mode, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    /// The secret itself in a header.
    Token {
        header: String,
    },
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: Basic base64(user:password)`.
    Basic,
    /// HMAC-SHA256 of the raw body, keyed with the secret.
    HmacSha256 {
        header: String,
        prefix: String,
        encoding: Encoding,
    },
    /// <https://www.standardwebhooks.com>: `webhook-*` or `svix-*` headers.
    StandardWebhooks,
    /// PagerDuty Events v2: the body's `routing_key` is one of the integration's keys. The one
    /// mode checked after the body is parsed; the key is an address as much as a credential.
    RoutingKey,
}

/// Senders whose HMAC header, prefix and encoding are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Plerion,
    Github,
    Plextrac,
}

impl Preset {
    pub const NAMES: &'static [&'static str] = &["plerion", "github", "plextrac"];

    pub fn parse(name: &str) -> Option<Preset> {
        match name {
            "plerion" => Some(Preset::Plerion),
            "github" => Some(Preset::Github),
            "plextrac" => Some(Preset::Plextrac),
            _ => None,
        }
    }

    /// The header, prefix and encoding this sender uses.
    pub fn method(self) -> AuthMethod {
        let (header, prefix) = match self {
            Preset::Plerion => ("plerion-signature", "sha256="),
            Preset::Github => ("x-hub-signature-256", "sha256="),
            Preset::Plextrac => ("x-authorization-hmac-256", ""),
        };
        AuthMethod::HmacSha256 {
            header: header.into(),
            prefix: prefix.into(),
            encoding: Encoding::Hex,
        }
    }
}

impl AuthMethod {
    /// The mode names of SPEC §2 that hooks accept (`routing-key` arrives with `pagerduty`).
    pub const MODES: &'static [&'static str] = &[
        "none",
        "token",
        "bearer",
        "basic",
        "hmac-sha256",
        "standard-webhooks",
        "routing-key",
    ];

    /// The mode's name as stored and shown.
    pub fn mode(&self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Token { .. } => "token",
            AuthMethod::Bearer => "bearer",
            AuthMethod::Basic => "basic",
            AuthMethod::HmacSha256 { .. } => "hmac-sha256",
            AuthMethod::StandardWebhooks => "standard-webhooks",
            AuthMethod::RoutingKey => "routing-key",
        }
    }

    /// Whether requests must carry a credential derived from a secret.
    pub fn needs_secret(&self) -> bool {
        !matches!(self, AuthMethod::None)
    }

    /// Whether the mode needs its secrets whole: HMAC and Standard Webhooks sign with them, and a
    /// routing key is looked up by value and shown. The other modes only compare, so they keep
    /// only a salted hash (`ActiveSecret`).
    pub fn keeps_secrets(&self) -> bool {
        matches!(
            self,
            AuthMethod::HmacSha256 { .. } | AuthMethod::StandardWebhooks | AuthMethod::RoutingKey
        )
    }

    /// The header that carries the credential, when the mode has a configurable one.
    pub fn header(&self) -> Option<&str> {
        match self {
            AuthMethod::Token { header } | AuthMethod::HmacSha256 { header, .. } => Some(header),
            _ => None,
        }
    }

    pub fn prefix(&self) -> Option<&str> {
        match self {
            AuthMethod::HmacSha256 { prefix, .. } => Some(prefix),
            _ => None,
        }
    }

    pub fn encoding(&self) -> Option<Encoding> {
        match self {
            AuthMethod::HmacSha256 { encoding, .. } => Some(*encoding),
            _ => None,
        }
    }

    /// Builds a method from its stored or typed parts. Options that the mode does not take are
    /// refused rather than silently dropped. Errors name the option: `(field, message)`.
    pub fn from_parts(
        mode: &str,
        header: Option<&str>,
        prefix: Option<&str>,
        encoding: Option<&str>,
    ) -> Result<AuthMethod, (&'static str, String)> {
        let method = match mode {
            "none" => AuthMethod::None,
            "token" => AuthMethod::Token {
                header: header_name(header.unwrap_or(DEFAULT_TOKEN_HEADER))?,
            },
            "bearer" => AuthMethod::Bearer,
            "basic" => AuthMethod::Basic,
            "hmac-sha256" => AuthMethod::HmacSha256 {
                header: header_name(header.unwrap_or(DEFAULT_HMAC_HEADER))?,
                prefix: signature_prefix(prefix.unwrap_or(""))?,
                encoding: match encoding {
                    None => Encoding::Hex,
                    Some(text) => Encoding::parse(text).ok_or_else(|| {
                        (
                            "encoding",
                            format!("`{text}` is not an encoding; use hex or base64"),
                        )
                    })?,
                },
            },
            "standard-webhooks" => AuthMethod::StandardWebhooks,
            "routing-key" => AuthMethod::RoutingKey,
            other => {
                let modes = crate::model::or_list(Self::MODES);
                return Err((
                    "auth",
                    format!("`{other}` is not an auth mode; use {modes}"),
                ));
            }
        };
        let misplaced = [
            ("header", header.is_some() && method.header().is_none()),
            ("prefix", prefix.is_some() && method.prefix().is_none()),
            (
                "encoding",
                encoding.is_some() && method.encoding().is_none(),
            ),
        ];
        if let Some((option, _)) = misplaced.into_iter().find(|(_, refused)| *refused) {
            return Err((option, format!("auth mode `{mode}` takes no --{option}")));
        }
        Ok(method)
    }
}

/// Header names are RFC 9110 tokens; stored lower-case because lookups ignore case anyway.
/// Headers the protocol already gives a meaning to (SPEC §2): a credential there would be read as
/// something else, or something else as the credential. `Authorization` is refused in token mode
/// only, where the Bearer and Basic modes are the way to use it.
const RESERVED_HEADERS: [&str; 3] = ["content-type", "content-length", "idempotency-key"];
const RESERVED_PREFIXES: [&str; 2] = ["webhook-", "svix-"];

impl AuthMethod {
    /// The credential header, when the protocol already gives it another meaning. A new or
    /// changed integration may not use one; one stored before the rule still loads.
    pub fn reserved_header(&self) -> Option<&str> {
        let (header, token) = match self {
            AuthMethod::Token { header } => (header.as_str(), true),
            AuthMethod::HmacSha256 { header, .. } => (header.as_str(), false),
            _ => return None,
        };
        let reserved = RESERVED_HEADERS.contains(&header)
            || RESERVED_PREFIXES
                .iter()
                .any(|prefix| header.starts_with(prefix))
            || (token && header == "authorization");
        reserved.then_some(header)
    }
}

fn header_name(name: &str) -> Result<String, (&'static str, String)> {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(is_token_char) {
        return Err((
            "header",
            format!("`{name}` is not a header name (1-64 letters, digits or -)"),
        ));
    }
    Ok(name.to_ascii_lowercase())
}

fn signature_prefix(prefix: &str) -> Result<String, (&'static str, String)> {
    if prefix.len() > 32 || !prefix.chars().all(|c| c.is_ascii_graphic()) {
        return Err((
            "prefix",
            "the prefix must be at most 32 printable characters without spaces".into(),
        ));
    }
    Ok(prefix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A method is stored as its parts and rebuilt from them: every mode, and every preset,
    /// comes back the same.
    #[test]
    fn every_method_rebuilds_from_its_stored_parts() {
        let custom = AuthMethod::from_parts(
            "hmac-sha256",
            Some("X-Sig"),
            Some("sha256="),
            Some("base64"),
        )
        .unwrap();
        let mut methods = vec![
            AuthMethod::None,
            AuthMethod::from_parts("token", Some("X-Token"), None, None).unwrap(),
            AuthMethod::Bearer,
            AuthMethod::Basic,
            custom,
            AuthMethod::StandardWebhooks,
            AuthMethod::RoutingKey,
        ];
        let presets: Vec<Preset> = Preset::NAMES
            .iter()
            .map(|name| Preset::parse(name).unwrap_or_else(|| panic!("{name} is a preset")))
            .collect();
        methods.extend(presets.iter().map(|preset| preset.method()));
        for method in methods {
            let rebuilt = AuthMethod::from_parts(
                method.mode(),
                method.header(),
                method.prefix(),
                method.encoding().map(Encoding::as_str),
            );
            assert_eq!(rebuilt, Ok(method.clone()), "{method:?}");
            assert_eq!(
                method.needs_secret(),
                method != AuthMethod::None,
                "{method:?}"
            );
        }
        assert_eq!(Preset::parse("gitlab"), None);
        assert_eq!(
            Preset::parse("plextrac")
                .map(Preset::method)
                .unwrap()
                .header(),
            Some("x-authorization-hmac-256")
        );
    }

    /// A header name is 1-64 token characters; a prefix at most 32 printable ones, no spaces.
    #[test]
    fn header_names_and_prefixes_have_their_limits() {
        let hmac = |header: &str, prefix: &str| {
            AuthMethod::from_parts("hmac-sha256", Some(header), Some(prefix), None)
                .map_err(|(field, _)| field)
        };
        assert!(hmac(&"h".repeat(64), &"p".repeat(32)).is_ok());
        assert_eq!(hmac(&"h".repeat(65), ""), Err("header"));
        assert_eq!(hmac("", ""), Err("header"));
        assert_eq!(hmac("x sig", ""), Err("header"));
        assert_eq!(hmac("x-sig", &"p".repeat(33)), Err("prefix"));
        assert_eq!(hmac("x-sig", "sha 256="), Err("prefix"));
    }
}
