//! A secret value that never shows itself in `Debug`, `Display`, logs or errors.

use std::borrow::Cow;
use std::fmt;

/// A credential held by the host on behalf of a tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must hand it to the component's config store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces a tenant's secret values with `***` in text that came from its component (records,
/// error messages, logs), so a component cannot leak a secret through the host's output.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Each secret as written, and as it appears inside a JSON string; longest first.
    needles: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} patterns)", self.needles.len())
    }
}

/// Secrets shorter than this are not searched for: they would blank out ordinary words.
const MIN_SECRET_LEN: usize = 6;

impl Redactor {
    /// A redactor for these secrets.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut needles: Vec<String> = Vec::new();
        for s in secrets {
            let plain = s.expose();
            if plain.len() < MIN_SECRET_LEN {
                continue;
            }
            let quoted = serde_json::to_string(plain).unwrap_or_default();
            needles.push(plain.to_string());
            needles.push(quoted[1..quoted.len() - 1].to_string());
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor { needles }
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = Cow::Owned(out.replace(n.as_str(), "***"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_plain_and_json_escaped() {
        let r = Redactor::new([&Secret::new("abc\"def~123"), &Secret::new("short")]);
        assert_eq!(r.redact("x abc\"def~123 y"), "x *** y");
        let json = serde_json::json!({ "title": "abc\"def~123" }).to_string();
        assert_eq!(r.redact(&json), r#"{"title":"***"}"#);
        assert_eq!(r.redact("short words stay"), "short words stay");
        assert!(matches!(r.redact("nothing"), Cow::Borrowed(_)));
        assert_eq!(format!("{r:?}"), "Redactor(2 patterns)");
    }

    #[test]
    fn never_shown() {
        let s = super::Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }
}
