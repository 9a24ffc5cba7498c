//! What an integration is, and the one place that decides whether a requested one is valid.
//!
//! The CLI and the admin API turn their input into `IntegrationOptions` (a PATCH into
//! `IntegrationPatch`, merged over the integration as it is) and call `validate`; nothing else
//! checks names, formats or auth options, so the two can never disagree. How an integration is
//! shown is `wire::IntegrationView`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use std::collections::BTreeMap;

use crate::auth::{self, ActiveSecret, AuthMethod, Preset, Secret};
use crate::formats::{Format, Mapping};
use crate::model::Action;

/// An integration as the server uses it, with its active secrets (newest first), a retired one
/// included until its expiry. `Secret` redacts itself, so the derived `Debug` prints no secret.
#[derive(Debug, Clone)]
pub struct Integration {
    pub name: String,
    pub format: Format,
    pub auth: AuthMethod,
    pub capture_payload: bool,
    pub enabled: bool,
    pub secrets: Vec<ActiveSecret>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a person asks for when adding an integration, as typed (CLI flags, or the admin API's
/// JSON with the same names): nothing checked yet.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrationOptions {
    pub name: String,
    pub format: Option<String>,
    pub auth: Option<String>,
    pub header: Option<String>,
    pub prefix: Option<String>,
    pub encoding: Option<String>,
    pub preset: Option<String>,
    /// Generated when absent.
    pub secret: Option<String>,
    pub capture_payload: bool,
    /// Format `mapping`: field → JSON Pointer.
    pub map: BTreeMap<String, String>,
    /// Format `mapping`: the sender's action value → one of our action names.
    pub action_map: BTreeMap<String, String>,
}

/// A checked request for a new integration, with the secret it will start with.
pub struct NewIntegration {
    pub name: String,
    pub format: Format,
    pub auth: AuthMethod,
    pub capture_payload: bool,
    /// `None` for auth mode `none`.
    pub secret: Option<Secret>,
    /// Whether the secret was generated, and so must be shown once.
    pub secret_generated: bool,
}

/// Why integration options were refused, naming the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidIntegration {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidIntegration {
    InvalidIntegration {
        field,
        message: message.into(),
    }
}

impl IntegrationOptions {
    pub fn validate(self) -> Result<NewIntegration, InvalidIntegration> {
        validate_name(&self.name)?;
        let format = self.format()?;
        let auth = self.auth_method(&format)?;
        // SPEC §2: routing keys are how PagerDuty senders address an integration, and only they.
        if (format == Format::Pagerduty) != (auth == AuthMethod::RoutingKey) {
            return Err(invalid(
                "auth",
                "pagerduty integrations, and only they, use routing-key auth",
            ));
        }
        let (secret, secret_generated) = match (&auth, self.secret) {
            (AuthMethod::None, Some(_)) => {
                return Err(invalid("secret", "auth mode `none` takes no secret"))
            }
            (AuthMethod::None, None) => (None, false),
            (method, Some(text)) => {
                let secret =
                    auth::validate_secret(method, &text).map_err(|m| invalid("secret", m))?;
                (Some(secret), false)
            }
            (method, None) => (Some(auth::generate_secret(method)), true),
        };
        Ok(NewIntegration {
            name: self.name,
            format,
            auth,
            capture_payload: self.capture_payload,
            secret,
            secret_generated,
        })
    }

    fn format(&self) -> Result<Format, InvalidIntegration> {
        let name = self.format.as_deref().unwrap_or("pagertree");
        if name != "mapping" {
            if !self.map.is_empty() || !self.action_map.is_empty() {
                return Err(invalid(
                    "map",
                    format!("format `{name}` takes no --map or --action-map"),
                ));
            }
            return Format::named(name).ok_or_else(|| {
                let formats = crate::model::or_list(Format::NAMES);
                invalid("format", format!("`{name}` is not a format; use {formats}"))
            });
        }
        let mut actions = BTreeMap::new();
        for (value, action) in &self.action_map {
            let action = Action::parse(action).ok_or_else(|| {
                invalid(
                    "action_map",
                    format!(
                        "`{action}` for `{value}` is not one of {}",
                        Action::expected()
                    ),
                )
            })?;
            actions.insert(value.clone(), action);
        }
        let mapping = Mapping::new(self.map.clone(), actions)
            .map_err(|(field, message)| invalid(field, message))?;
        Ok(Format::Mapping(Box::new(mapping)))
    }

    fn auth_method(&self, format: &Format) -> Result<AuthMethod, InvalidIntegration> {
        if let Some(preset) = &self.preset {
            return self.preset_method(preset);
        }
        let (mode, header) = match self.auth.as_deref() {
            Some(mode) => (mode, self.header.as_deref()),
            None => match self.format_default(format) {
                Ok(method) => return Ok(method),
                Err(default) => default,
            },
        };
        let method = AuthMethod::from_parts(
            mode,
            header,
            self.prefix.as_deref(),
            self.encoding.as_deref(),
        )
        .map_err(|(field, message)| invalid(field, message))?;
        if let Some(header) = method.reserved_header() {
            return Err(invalid(
                "header",
                format!("`{header}` already means something else in a request; pick another"),
            ));
        }
        Ok(method)
    }

    /// Each sender's own credential when `--auth` is not given: Plerion signs with its preset,
    /// Pingara sends `X-Pingara-Secret`, Alertmanager a Bearer token, anything else a token.
    /// Answers the method itself, or the mode and header to build it from the other options.
    fn format_default(&self, format: &Format) -> Result<AuthMethod, (&'static str, Option<&str>)> {
        let no_options = self.header.is_none() && self.prefix.is_none() && self.encoding.is_none();
        match format {
            Format::Plerion if no_options => Ok(Preset::Plerion.method()),
            Format::Plerion => Err(("hmac-sha256", self.header.as_deref())),
            Format::Pingara => Err(("token", self.header.as_deref().or(Some(PINGARA_HEADER)))),
            Format::Alertmanager => Err(("bearer", self.header.as_deref())),
            Format::Pagerduty => Err(("routing-key", self.header.as_deref())),
            Format::Pagertree | Format::Mapping(_) => Err(("token", self.header.as_deref())),
        }
    }

    fn preset_method(&self, name: &str) -> Result<AuthMethod, InvalidIntegration> {
        let preset = Preset::parse(name).ok_or_else(|| {
            let presets = crate::model::or_list(Preset::NAMES);
            invalid("preset", format!("`{name}` is not a preset; use {presets}"))
        })?;
        if let Some(mode) = self.auth.as_deref().filter(|mode| *mode != "hmac-sha256") {
            return Err(invalid(
                "auth",
                format!("--preset sets hmac-sha256; it cannot be combined with `{mode}`"),
            ));
        }
        if self.header.is_some() || self.prefix.is_some() || self.encoding.is_some() {
            return Err(invalid(
                "preset",
                "--preset sets the header, prefix and encoding itself",
            ));
        }
        Ok(preset.method())
    }
}

/// The header Pingara's documentation uses for its shared secret.
const PINGARA_HEADER: &str = "X-Pingara-Secret";

/// The admin API's PATCH: each key given replaces the current setting (SPEC §6).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrationPatch {
    pub format: Option<String>,
    pub auth: Option<String>,
    pub header: Option<String>,
    pub prefix: Option<String>,
    pub encoding: Option<String>,
    pub preset: Option<String>,
    pub capture_payload: Option<bool>,
    pub enabled: Option<bool>,
    pub map: Option<BTreeMap<String, String>>,
    pub action_map: Option<BTreeMap<String, String>>,
}

/// An integration after a PATCH, and the secret it needs when its old ones no longer fit.
pub struct Patched {
    pub integration: Integration,
    /// Replaces every active secret; shown once.
    pub new_secret: Option<Secret>,
}

impl Integration {
    /// Applies `patch` through the same validation as `integration add`: either the whole
    /// change is valid, or nothing changes and the error names the field.
    pub fn patched(&self, patch: IntegrationPatch) -> Result<Patched, InvalidIntegration> {
        let enabled = patch.enabled.unwrap_or(self.enabled);
        let checked = self.options_with(patch).validate()?;
        // SPEC §6: a new auth mode drops every secret of the old one, even one that would pass
        // its checks (a token sent in the clear must not become an HMAC key), and starts with
        // the freshly generated one. The same mode keeps its secrets.
        let same_mode = checked.auth.mode() == self.auth.mode() && !self.secrets.is_empty();
        let new_secret = match checked.auth {
            AuthMethod::None => None,
            _ if same_mode => None,
            _ => checked.secret,
        };
        let secrets = match (&checked.auth, &new_secret) {
            (AuthMethod::None, _) => Vec::new(),
            (auth, Some(secret)) => vec![ActiveSecret::new(auth, secret)],
            (_, None) => self.secrets.clone(),
        };
        Ok(Patched {
            integration: Integration {
                name: self.name.clone(),
                format: checked.format,
                auth: checked.auth,
                capture_payload: checked.capture_payload,
                enabled,
                secrets,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            new_secret,
        })
    }

    /// The options `integration add` would take to set this integration up as `patch` asks:
    /// what the patch gives, and the rest as it is now. A new auth mode (or preset) starts
    /// its header, prefix and encoding afresh rather than keeping the old mode's.
    fn options_with(&self, patch: IntegrationPatch) -> IntegrationOptions {
        let new_auth_mode = patch.auth.is_some() || patch.preset.is_some();
        let keep = |given: Option<String>, current: Option<&str>| {
            given.or_else(|| {
                (!new_auth_mode)
                    .then(|| current.map(str::to_string))
                    .flatten()
            })
        };
        let format = patch
            .format
            .unwrap_or_else(|| self.format.as_str().to_string());
        let mapping = self.format.mapping().filter(|_| format == "mapping");
        IntegrationOptions {
            name: self.name.clone(),
            auth: match (&patch.auth, &patch.preset) {
                (None, None) => Some(self.auth.mode().to_string()),
                _ => patch.auth,
            },
            header: keep(patch.header, self.auth.header()),
            prefix: keep(patch.prefix, self.auth.prefix()),
            encoding: keep(
                patch.encoding,
                self.auth.encoding().map(crate::auth::Encoding::as_str),
            ),
            preset: patch.preset,
            secret: None,
            capture_payload: patch.capture_payload.unwrap_or(self.capture_payload),
            map: patch
                .map
                .unwrap_or_else(|| mapping.map(|m| m.pointers().clone()).unwrap_or_default()),
            action_map: patch.action_map.unwrap_or_else(|| {
                let actions = mapping.map(|m| m.actions().clone()).unwrap_or_default();
                actions
                    .into_iter()
                    .map(|(value, action)| (value, action.as_str().to_string()))
                    .collect()
            }),
            format: Some(format),
        }
    }
}

/// SPEC §1: `^[a-z0-9][a-z0-9_-]{0,63}$`.
pub fn validate_name(name: &str) -> Result<(), InvalidIntegration> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(invalid(
            "name",
            format!("`{name}` is not a name: 1-64 of a-z, 0-9, _ and -, starting with a letter or digit"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(name: &str) -> IntegrationOptions {
        IntegrationOptions {
            name: name.into(),
            ..IntegrationOptions::default()
        }
    }

    #[test]
    fn defaults_are_pagertree_with_a_generated_token() {
        let new = options("default").validate().unwrap();
        assert_eq!(new.format, Format::Pagertree);
        assert_eq!(new.auth.mode(), "token");
        assert!(new.secret_generated);
        assert_eq!(new.secret.unwrap().expose().len(), 64);
    }

    #[test]
    fn names_follow_the_spec() {
        for good in ["a", "0", "prod-alerts_2", &"a".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "_a", "Prod", "a b", "a/b", &"a".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_preset_implies_hmac_and_refuses_conflicting_options() {
        let mut plerion = options("p");
        plerion.preset = Some("plerion".into());
        assert_eq!(plerion.validate().unwrap().auth, Preset::Plerion.method());

        let mut conflicting = options("p");
        conflicting.preset = Some("github".into());
        conflicting.auth = Some("token".into());
        assert_eq!(conflicting.validate().err().unwrap().field, "auth");

        let mut with_header = options("p");
        with_header.preset = Some("github".into());
        with_header.header = Some("x-other".into());
        assert_eq!(with_header.validate().err().unwrap().field, "preset");
    }

    #[test]
    fn each_format_defaults_to_its_senders_credential() {
        let with_format = |format: &str| IntegrationOptions {
            format: Some(format.into()),
            ..options("a")
        };
        assert_eq!(
            with_format("plerion").validate().unwrap().auth,
            Preset::Plerion.method()
        );
        let pingara = with_format("pingara").validate().unwrap().auth;
        assert_eq!(
            (pingara.mode(), pingara.header()),
            ("token", Some("x-pingara-secret"))
        );
        assert_eq!(
            with_format("alertmanager").validate().unwrap().auth,
            AuthMethod::Bearer
        );
        assert_eq!(
            with_format("pagertree").validate().unwrap().auth.header(),
            Some("pagertree-token")
        );
        let mut explicit = with_format("plerion");
        explicit.auth = Some("bearer".into());
        assert_eq!(
            explicit.validate().unwrap().auth,
            AuthMethod::Bearer,
            "--auth wins"
        );
    }

    #[test]
    fn a_credential_header_the_protocol_already_uses_is_refused() {
        for (mode, header) in [
            ("token", "Idempotency-Key"),
            ("token", "Authorization"),
            ("token", "Content-Type"),
            ("token", "webhook-id"),
            ("hmac-sha256", "svix-signature"),
            ("hmac-sha256", "content-length"),
        ] {
            let mut reserved = options("a");
            reserved.auth = Some(mode.into());
            reserved.header = Some(header.into());
            assert_eq!(
                reserved.validate().err().unwrap().field,
                "header",
                "{mode} {header}"
            );
        }
        let mut hmac_in_authorization = options("a");
        hmac_in_authorization.auth = Some("hmac-sha256".into());
        hmac_in_authorization.header = Some("Authorization".into());
        assert!(hmac_in_authorization.validate().is_ok());
    }

    #[test]
    fn bad_formats_and_secrets_name_their_field() {
        let mut bad_format = options("a");
        bad_format.format = Some("xml".into());
        assert_eq!(bad_format.validate().err().unwrap().field, "format");

        let mut none_with_secret = options("a");
        none_with_secret.auth = Some("none".into());
        none_with_secret.secret = Some("x".into());
        assert_eq!(none_with_secret.validate().err().unwrap().field, "secret");
    }
}
