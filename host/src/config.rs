//! The host's TOML configuration: which component, where state and output go, sandbox limits,
//! and the tenants with their settings. Parsed strictly; every error says how to fix it.

pub use crate::limits::{Limits, LimitsOverride};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Path of the connector component (`.wasm`), relative to the config file. Absent: the
    /// Defender connector embedded in this binary (when built with the `demo` feature).
    #[serde(default)]
    pub component: Option<PathBuf>,
    /// Directory for per-tenant cursors, relative to the config file.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// NDJSON output: a file path (appended to), or `-` for stdout.
    #[serde(default = "default_output")]
    pub output: String,
    /// Tenants polled at the same time.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Seconds between poll cycles for `run` without `--once`.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Sandbox limits for every tenant (each tenant may override fields in its own `limits`).
    #[serde(default)]
    pub limits: Limits,
    /// Retries of throttled and transient failures.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// A folder watched for new connector versions (`*.wasm`), relative to the config file.
    #[serde(default)]
    pub components_dir: Option<PathBuf>,
    /// Compiled components by digest, so a restart does not compile again (default `<state_dir>/cache`).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// How new versions reach tenants: canary tenants first, then everyone.
    #[serde(default)]
    pub rollout: crate::registry::RolloutPolicy,
    /// The tenants.
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
}

/// How throttled (429/503) and transient (5xx, network) failures are retried, per page.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts per page, the first included; then the stream stops with the error until the next poll.
    pub max_attempts: u32,
    /// First backoff delay for transient failures (doubles each attempt, with jitter).
    pub base_delay_ms: u64,
    /// Longest backoff delay.
    pub max_delay_ms: u64,
    /// Longest `Retry-After` honoured; a longer one is capped (the poll timeout still applies).
    pub max_retry_after_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, base_delay_ms: 500, max_delay_ms: 30_000, max_retry_after_secs: 300 }
    }
}

impl RetryPolicy {
    /// Backoff before retry number `attempt + 1`: exponential, capped, with "full jitter" in its
    /// upper half so tenants failing together do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        use std::hash::{BuildHasher, Hasher};
        let ceiling = self.base_delay_ms.saturating_mul(1u64 << attempt.min(20)).min(self.max_delay_ms).max(1);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        let jitter = h.finish() % (ceiling / 2 + 1);
        std::time::Duration::from_millis(ceiling - jitter)
    }
}

/// One customer tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Name used in output keys, state files and logs (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// Allow plain-http endpoints (a local emulator); never for a real tenant.
    #[serde(default)]
    pub allow_http: bool,
    /// Non-secret settings handed to the component's config store.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Secret settings: an inline value or `{ env = "VARIABLE" }`.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
    /// This tenant's sandbox limits that differ from the global `[limits]`.
    #[serde(default)]
    pub limits: LimitsOverride,
    /// Pin this tenant to a connector version: its version string or a digest prefix (`sha256:…`).
    #[serde(default)]
    pub connector_version: Option<String>,
}

/// Where a secret's value comes from.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// Read from an environment variable of the host process.
    Env {
        /// Variable name.
        env: String,
    },
    /// Read from a file (a PEM key, say); relative to the config file. Trailing newlines are kept.
    File {
        /// Path of the file.
        file: PathBuf,
    },
    /// Written in the file.
    Inline(String),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env { env } => write!(f, "Env({env})"),
            SecretSource::File { file } => write!(f, "File({})", file.display()),
            SecretSource::Inline(_) => f.write_str("Inline(***)"),
        }
    }
}

/// A configuration problem, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax or schema error.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// toml's message (line, column, what was expected).
        message: String,
    },
    /// A semantic problem in one tenant.
    #[error("tenant `{tenant}`: {message}")]
    Tenant {
        /// Tenant name.
        tenant: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A problem outside tenants.
    #[error("{0}")]
    Invalid(String),
}

/// toml's error without the quoted source line: that line may hold an inline secret.
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("state")
}
fn default_output() -> String {
    "-".into()
}
fn default_concurrency() -> usize {
    16
}
fn default_interval() -> u64 {
    60
}

impl HostConfig {
    /// Reads, parses and checks a config file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<HostConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = HostConfig::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse { path: path.to_path_buf(), message },
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(c) = &config.component {
            config.component = Some(base.join(c));
        }
        config.state_dir = base.join(&config.state_dir);
        config.components_dir = config.components_dir.map(|d| base.join(d));
        config.cache_dir =
            Some(config.cache_dir.map(|d| base.join(d)).unwrap_or_else(|| config.state_dir.join("cache")));
        if config.output != "-" {
            config.output = base.join(&config.output).to_string_lossy().into_owned();
        }
        for tenant in &mut config.tenants {
            for source in tenant.secrets.values_mut() {
                if let SecretSource::File { file } = source {
                    *file = base.join(&*file);
                }
            }
        }
        Ok(config)
    }

    /// Parses and checks config text.
    pub fn parse(text: &str) -> Result<HostConfig, ConfigError> {
        let config: HostConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: PathBuf::from("(text)"), message: parse_message(text, &e) })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::Invalid("retry.max_attempts must be at least 1 (1 means no retry)".into()));
        }
        if self.concurrency == 0 {
            return Err(ConfigError::Invalid("concurrency must be at least 1".into()));
        }
        self.limits.check().map_err(ConfigError::Invalid)?;
        if let Some(unknown) = self.rollout.canary.iter().find(|c| !self.tenants.iter().any(|t| &t.name == *c)) {
            return Err(ConfigError::Invalid(format!(
                "rollout.canary names `{unknown}`, which is not a [[tenant]] of this file"
            )));
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &self.tenants {
            let valid = !t.name.is_empty()
                && t.name.len() <= 64
                && t.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !t.name.starts_with('.')
                && !t.name.ends_with('.');
            if !valid {
                return Err(ConfigError::Tenant {
                    tenant: t.name.clone(),
                    message:
                        "name must be 1–64 letters, digits, `-`, `_` or `.` (it names state files and output keys)"
                            .into(),
                });
            }
            // Compared without case: the name is a folder, and `Acme` and `acme` are one folder on
            // a case-insensitive file system.
            if !names.insert(t.name.to_ascii_lowercase()) {
                return Err(ConfigError::Tenant {
                    tenant: t.name.clone(),
                    message: "appears twice (names are compared without case); tenant names must be unique".into(),
                });
            }
            self.limits
                .with(&t.limits)
                .check()
                .map_err(|message| ConfigError::Tenant { tenant: t.name.clone(), message })?;
            if let Some(key) = t.settings.keys().find(|k| t.secrets.contains_key(*k)) {
                return Err(ConfigError::Tenant {
                    tenant: t.name.clone(),
                    message: format!("`{key}` is given both in settings and in secrets; keep one"),
                });
            }
        }
        Ok(())
    }

    /// A tenant by name.
    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.name == name)
    }
}

impl TenantConfig {
    /// Resolves secrets (reading environment variables); the error names the variable, never a value.
    pub fn resolve_secrets(&self) -> Result<BTreeMap<String, Secret>, ConfigError> {
        self.secrets
            .iter()
            .map(|(key, source)| {
                let value = match source {
                    SecretSource::Inline(v) => v.clone(),
                    SecretSource::Env { env } => std::env::var(env).map_err(|_| ConfigError::Tenant {
                        tenant: self.name.clone(),
                        message: format!("secret `{key}` comes from environment variable {env}, which is not set"),
                    })?,
                    SecretSource::File { file } => std::fs::read_to_string(file).map_err(|e| ConfigError::Tenant {
                        tenant: self.name.clone(),
                        message: format!(
                            "secret `{key}` comes from the file {}, which cannot be read: {e}",
                            file.display()
                        ),
                    })?,
                };
                Ok((key.clone(), Secret::new(value)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_from_a_file_is_read_relative_to_the_config_and_a_missing_one_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/a.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap();
        let path = dir.path().join("host.toml");
        std::fs::write(
            &path,
            "[[tenant]]\nname = \"a\"\nsecrets = { certificate-private-key = { file = \"keys/a.pem\" }, other = { file = \"keys/none.pem\" } }\n",
        )
        .unwrap();
        let c = HostConfig::load(&path).unwrap();
        let t = &c.tenants[0];
        assert!(format!("{:?}", t.secrets).contains("File("), "{:?}", t.secrets);
        let e = t.resolve_secrets().unwrap_err().to_string();
        assert!(e.contains("secret `other` comes from the file") && e.contains("keys/none.pem"), "{e}");
        let mut t = t.clone();
        t.secrets.remove("other");
        let secrets = t.resolve_secrets().unwrap();
        assert_eq!(secrets["certificate-private-key"].expose(), "-----BEGIN PRIVATE KEY-----\nAAAA\n");
    }

    #[test]
    fn a_full_config() {
        let c = HostConfig::parse(
            r#"
            component = "connector.wasm"
            output = "out.ndjson"
            [limits]
            memory_mib = 64
            [[tenant]]
            name = "contoso"
            settings = { tenant-id = "contoso.onmicrosoft.com", client-id = "00000000-0000-0000-0000-000000000001" }
            secrets = { client-secret = { env = "CONTOSO_SECRET" } }
            [[tenant]]
            name = "fabrikam"
            allow_http = true
            secrets = { client-secret = "inline-value" }
            "#,
        )
        .unwrap();
        assert_eq!(c.tenants.len(), 2);
        assert_eq!(c.limits, Limits { memory_mib: 64, ..Limits::default() });
        assert_eq!(c.concurrency, 16);
        assert!(!format!("{c:?}").contains("inline-value"));
        let f = c.tenant("fabrikam").unwrap();
        assert_eq!(f.resolve_secrets().unwrap()["client-secret"].expose(), "inline-value");
        let e = c.tenant("contoso").unwrap().resolve_secrets().unwrap_err().to_string();
        assert_eq!(
            e,
            "tenant `contoso`: secret `client-secret` comes from environment variable CONTOSO_SECRET, which is not set"
        );
    }

    #[test]
    fn the_example_config_is_valid_and_lists_the_default_limits() {
        let c = HostConfig::parse(include_str!("../connector-host.example.toml")).unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.tenants.len(), 1);
    }

    #[test]
    fn per_tenant_limits_override_the_global_ones_and_are_checked() {
        let c = HostConfig::parse(
            "[limits]\ncpu_ms = 2000\n[[tenant]]\nname = \"big\"\nlimits = { memory_mib = 512 }\n[[tenant]]\nname = \"plain\"",
        )
        .unwrap();
        let global = &c.limits;
        assert_eq!(global.with(&c.tenants[0].limits), Limits { memory_mib: 512, cpu_ms: 2000, ..Limits::default() });
        assert_eq!(global.with(&c.tenants[1].limits), Limits { cpu_ms: 2000, ..Limits::default() });
        let e = HostConfig::parse("[[tenant]]\nname = \"tiny\"\nlimits = { memory_mib = 4 }").unwrap_err().to_string();
        assert_eq!(e, "tenant `tiny`: limits.memory_mib = 4 is too small: at least 16 is needed for any call to run");
        let e = HostConfig::parse("[limits]\nmax_concurrent_requests = 0").unwrap_err().to_string();
        assert_eq!(e, "limits.max_concurrent_requests = 0 is too small: at least 1 is needed for any call to run");
        let e = HostConfig::parse("[[tenant]]\nname = \"t\"\nlimits = { memroy_mib = 4 }").unwrap_err().to_string();
        assert!(e.contains("unknown field `memroy_mib`"), "{e}");
    }

    #[test]
    fn a_syntax_error_never_quotes_the_line_with_an_inline_secret() {
        for text in [
            "[[tenant]]\nname = \"t\"\nsecrets = { client-secret = \"SUPERSECRET123\", other = 5 }",
            "[[tenant]]\nname = \"t\"\nsecrets = { client-secret = \"SUPERSECRET123\"",
            "[[tenant]]\nname = \"t\"\nsecrets = { client-secret = \"SUPERSECRET123\", client-secret = \"SUPERSECRET123\" }",
        ] {
            let e = HostConfig::parse(text).unwrap_err().to_string();
            assert!(!e.contains("SUPERSECRET123"), "{e}");
            assert!(e.starts_with("config file (text) is invalid: line 3, column "), "{e}");
        }
    }

    #[test]
    fn canary_tenants_must_exist_and_pins_parse() {
        let e = HostConfig::parse("[rollout]\ncanary = [\"ghost\"]\n[[tenant]]\nname = \"a\"").unwrap_err().to_string();
        assert_eq!(e, "rollout.canary names `ghost`, which is not a [[tenant]] of this file");
        let c =
            HostConfig::parse("[rollout]\ncanary = [\"a\"]\n[[tenant]]\nname = \"a\"\nconnector_version = \"0.1.0\"")
                .unwrap();
        assert_eq!(c.rollout.canary, ["a"]);
        assert_eq!(c.tenants[0].connector_version.as_deref(), Some("0.1.0"));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy { base_delay_ms: 100, max_delay_ms: 1000, ..RetryPolicy::default() };
        for _ in 0..50 {
            let d0 = p.backoff(0).as_millis();
            assert!((50..=100).contains(&d0), "{d0}");
            let d2 = p.backoff(2).as_millis();
            assert!((200..=400).contains(&d2), "{d2}");
            let d9 = p.backoff(9).as_millis();
            assert!((500..=1000).contains(&d9), "{d9}");
        }
    }

    #[test]
    fn typos_and_bad_names_are_errors() {
        let e = HostConfig::parse("concurency = 3").unwrap_err().to_string();
        assert!(e.contains("unknown field `concurency`"), "{e}");
        let e = HostConfig::parse("[[tenant]]\nname = \"a/b\"").unwrap_err().to_string();
        assert!(e.starts_with("tenant `a/b`: name must be"), "{e}");
        let e = HostConfig::parse("[[tenant]]\nname = \"a\"\n[[tenant]]\nname = \"a\"").unwrap_err().to_string();
        assert_eq!(e, "tenant `a`: appears twice (names are compared without case); tenant names must be unique");
        let e = HostConfig::parse("[[tenant]]\nname = \"Acme\"\n[[tenant]]\nname = \"acme\"").unwrap_err().to_string();
        assert_eq!(e, "tenant `acme`: appears twice (names are compared without case); tenant names must be unique");
    }
}
