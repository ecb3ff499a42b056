//! The connector's settings, read only from the host's config store, validated with fix-it messages.

use crate::error::ConnectorError;
use crate::time::Timestamp;
use std::fmt;

/// Where settings come from (the component's `wasi:config/store`, or a map in tests).
pub trait ConfigSource {
    /// The value of `key`, if set. An `Err` is a store failure, described in words.
    fn get(&self, key: &str) -> Result<Option<String>, String>;
}

impl ConfigSource for std::collections::BTreeMap<String, String> {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        Ok(std::collections::BTreeMap::get(self, key).cloned())
    }
}

/// Description of one configuration key (what `describe` reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// Key name.
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
    /// It is a credential.
    pub secret: bool,
    /// It must be set.
    pub required: bool,
    /// Its value is a base URL the connector calls.
    pub endpoint: bool,
    /// Default when absent.
    pub default: Option<&'static str>,
}

/// Key: Directory (tenant) ID.
pub const TENANT_ID: &str = "tenant-id";
/// Key: Application (client) ID.
pub const CLIENT_ID: &str = "client-id";
/// Key: client secret value.
pub const CLIENT_SECRET: &str = "client-secret";
/// Key: Entra ID login base URL.
pub const LOGIN_ENDPOINT: &str = "login-endpoint";
/// Key: Microsoft Graph base URL.
pub const GRAPH_ENDPOINT: &str = "graph-endpoint";
/// Key: national cloud preset.
pub const CLOUD: &str = "cloud";
/// Key: Microsoft 365 Defender API base URL.
pub const DEFENDER_ENDPOINT: &str = "defender-endpoint";
/// Key: PEM private key of the app's certificate (instead of a client secret).
pub const CERTIFICATE_KEY: &str = "certificate-private-key";
/// Key: SHA-1 thumbprint of that certificate, as the app registration shows it.
pub const CERTIFICATE_THUMBPRINT: &str = "certificate-thumbprint";
/// Key: first-run window.
pub const BACKFILL: &str = "backfill";
/// Key: look-back overlap.
pub const LOOKBACK: &str = "lookback";
/// Key: incidents page size.
pub const INCIDENTS_PAGE_SIZE: &str = "incidents-page-size";
/// Key: alerts page size.
pub const ALERTS_PAGE_SIZE: &str = "alerts-page-size";

/// Global-cloud login host.
pub const DEFAULT_LOGIN: &str = "https://login.microsoftonline.com";
/// Global-cloud Graph host.
pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com";
/// Global-cloud Microsoft 365 Defender API host.
pub const DEFAULT_DEFENDER: &str = "https://api.security.microsoft.com";
/// Graph rejects `$top` above 50 on incidents with a 400 (observed; see the Graph notes).
pub const INCIDENTS_MAX_PAGE: u32 = 50;
/// alerts_v2's cap is undocumented; 100 is documented to work, and 1000 was the legacy alerts cap.
pub const ALERTS_DEFAULT_PAGE: u32 = 100;
/// Upper bound accepted for `alerts-page-size`.
pub const ALERTS_MAX_PAGE: u32 = 1000;

/// Every key the connector reads.
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        name: TENANT_ID,
        description: "Directory (tenant) ID of the customer's Microsoft Entra tenant: a GUID or a verified domain such as contoso.onmicrosoft.com.",
        secret: false,
        required: true,
        endpoint: false,
        default: None,
    },
    KeySpec {
        name: CLIENT_ID,
        description: "Application (client) ID of the app registration the customer created for RedCarbon (a GUID).",
        secret: false,
        required: true,
        endpoint: false,
        default: None,
    },
    KeySpec {
        name: CLIENT_SECRET,
        description: "Client secret VALUE of that app registration (not the secret's ID); or use certificate-private-key and certificate-thumbprint instead.",
        secret: true,
        required: false,
        endpoint: false,
        default: None,
    },
    KeySpec {
        name: CERTIFICATE_KEY,
        description: "PEM private key (PKCS#8 or PKCS#1 RSA) of a certificate uploaded to the app registration, used instead of a client secret.",
        secret: true,
        required: false,
        endpoint: false,
        default: None,
    },
    KeySpec {
        name: CERTIFICATE_THUMBPRINT,
        description: "Thumbprint (SHA-1, 40 hex digits, colons or spaces allowed) of that certificate, as the app registration's Certificates & secrets page shows it.",
        secret: false,
        required: false,
        endpoint: false,
        default: None,
    },
    KeySpec {
        name: CLOUD,
        description: "Microsoft cloud of the tenant: global, gcc, gcc-high or dod; sets the login, Graph and Defender API hosts together (China is not supported: the security APIs are not offered there).",
        secret: false,
        required: false,
        endpoint: false,
        default: Some("global"),
    },
    KeySpec {
        name: LOGIN_ENDPOINT,
        description: "Entra ID login base URL; overrides the cloud's login host (for a proxy or a test emulator).",
        secret: false,
        required: false,
        endpoint: true,
        default: Some(DEFAULT_LOGIN),
    },
    KeySpec {
        name: GRAPH_ENDPOINT,
        description: "Microsoft Graph base URL; overrides the cloud's Graph host (for a proxy or a test emulator).",
        secret: false,
        required: false,
        endpoint: true,
        default: Some(DEFAULT_GRAPH),
    },
    KeySpec {
        name: DEFENDER_ENDPOINT,
        description: "Microsoft 365 Defender API base URL, used to update incidents when the app has Incident.ReadWrite.All; overrides the cloud's host (e.g. a regional api-eu.security.microsoft.com).",
        secret: false,
        required: false,
        endpoint: true,
        default: Some(DEFAULT_DEFENDER),
    },
    KeySpec {
        name: BACKFILL,
        description: "How far back the first poll reads: a duration such as 24h or 7d, or an RFC 3339 instant.",
        secret: false,
        required: false,
        endpoint: false,
        default: Some("24h"),
    },
    KeySpec {
        name: INCIDENTS_PAGE_SIZE,
        description: "Incidents per Graph page, 1 to 50.",
        secret: false,
        required: false,
        endpoint: false,
        default: Some("50"),
    },
    KeySpec {
        name: ALERTS_PAGE_SIZE,
        description: "Alerts per Graph page, 1 to 1000.",
        secret: false,
        required: false,
        endpoint: false,
        default: Some("100"),
    },
    KeySpec {
        name: LOOKBACK,
        description: "Overlap re-read on every poll for Microsoft's ingestion lag, e.g. 10m (0s turns it off); re-read records are not emitted again.",
        secret: false,
        required: false,
        endpoint: false,
        default: Some("10m"),
    },
];

/// A credential that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The credential itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the app proves its identity to Entra ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A client secret value.
    Secret(Secret),
    /// A certificate: its PEM private key signs a client assertion naming its thumbprint.
    Certificate {
        /// PEM private key.
        private_key: Secret,
        /// SHA-1 thumbprint of the certificate (20 bytes).
        thumbprint: [u8; 20],
    },
}

/// Where the first poll starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backfill {
    /// This many seconds before now.
    Window(i64),
    /// From this instant.
    Since(Timestamp),
}

/// Validated settings of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Directory (tenant) ID.
    pub tenant_id: String,
    /// Application (client) ID.
    pub client_id: String,
    /// Client secret or certificate.
    pub credential: Credential,
    /// The national cloud preset.
    pub cloud: crate::cloud::Cloud,
    /// Login base URL without a trailing slash.
    pub login_endpoint: String,
    /// Graph base URL without a trailing slash.
    pub graph_endpoint: String,
    /// Microsoft 365 Defender API base URL without a trailing slash.
    pub defender_endpoint: String,
    /// First-run start.
    pub backfill: Backfill,
    /// Seconds each scan re-reads before the newest version seen.
    pub lookback_secs: i64,
    /// Incidents `$top`.
    pub incidents_page_size: u32,
    /// Alerts `$top`.
    pub alerts_page_size: u32,
}

impl Settings {
    /// Reads and validates every key.
    pub fn load(source: &dyn ConfigSource) -> Result<Settings, ConnectorError> {
        let get = |key: &str| -> Result<Option<String>, ConnectorError> {
            let value = source
                .get(key)
                .map_err(|e| ConnectorError::config(key, format!("the host's config store failed: {e}")))?;
            Ok(value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
        };
        let required = |key: &str| -> Result<String, ConnectorError> {
            get(key)?.ok_or_else(|| {
                let what = KEYS.iter().find(|k| k.name == key).map(|k| k.description).unwrap_or("");
                ConnectorError::config(key, format!("`{key}` is not set. {what}"))
            })
        };
        let tenant_id = required(TENANT_ID)?;
        check_tenant_id(&tenant_id)?;
        let client_id = required(CLIENT_ID)?;
        check_guid(CLIENT_ID, &client_id, "the Application (client) ID from the app registration's Overview page")?;
        let credential = credential(get(CLIENT_SECRET)?, get(CERTIFICATE_KEY)?, get(CERTIFICATE_THUMBPRINT)?)?;
        let cloud = crate::cloud::Cloud::parse(get(CLOUD)?.as_deref().unwrap_or("global"))?;
        let login_endpoint = endpoint(LOGIN_ENDPOINT, get(LOGIN_ENDPOINT)?.as_deref().unwrap_or(cloud.login()))?;
        let graph_endpoint = endpoint(GRAPH_ENDPOINT, get(GRAPH_ENDPOINT)?.as_deref().unwrap_or(cloud.graph()))?;
        let defender_endpoint =
            endpoint(DEFENDER_ENDPOINT, get(DEFENDER_ENDPOINT)?.as_deref().unwrap_or(cloud.defender()))?;
        same_cloud(&[
            (LOGIN_ENDPOINT, &login_endpoint),
            (GRAPH_ENDPOINT, &graph_endpoint),
            (DEFENDER_ENDPOINT, &defender_endpoint),
        ])?;
        let backfill = parse_backfill(get(BACKFILL)?.as_deref().unwrap_or("24h"))?;
        let lookback_secs = parse_duration(LOOKBACK, get(LOOKBACK)?.as_deref().unwrap_or("10m"), 0)?;
        let incidents_page_size =
            page_size(INCIDENTS_PAGE_SIZE, get(INCIDENTS_PAGE_SIZE)?, INCIDENTS_MAX_PAGE, INCIDENTS_MAX_PAGE)?;
        let alerts_page_size =
            page_size(ALERTS_PAGE_SIZE, get(ALERTS_PAGE_SIZE)?, ALERTS_DEFAULT_PAGE, ALERTS_MAX_PAGE)?;
        Ok(Settings {
            tenant_id,
            client_id,
            credential,
            cloud,
            login_endpoint,
            graph_endpoint,
            defender_endpoint,
            backfill,
            lookback_secs,
            incidents_page_size,
            alerts_page_size,
        })
    }

    /// The client-credentials scope: the Graph resource plus `/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.graph_endpoint)
    }

    /// The scope of the Microsoft 365 Defender API: its base URL plus `/.default`.
    pub fn defender_scope(&self) -> String {
        format!("{}/.default", self.defender_endpoint)
    }

    /// The client secret, when the app signs in with one.
    pub fn client_secret(&self) -> Option<&Secret> {
        match &self.credential {
            Credential::Secret(s) => Some(s),
            Credential::Certificate { .. } => None,
        }
    }
}

/// A client secret, or a certificate key with its thumbprint; exactly one of the two.
fn credential(
    secret: Option<String>,
    key: Option<String>,
    thumbprint: Option<String>,
) -> Result<Credential, ConnectorError> {
    match (secret, key, thumbprint) {
        (Some(_), Some(_), _) => Err(ConnectorError::config(
            CLIENT_SECRET,
            format!("both `{CLIENT_SECRET}` and `{CERTIFICATE_KEY}` are set: keep one of the two credentials"),
        )),
        (Some(_), None, Some(_)) => Err(ConnectorError::config(
            CERTIFICATE_THUMBPRINT,
            format!(
                "`{CERTIFICATE_THUMBPRINT}` is set but the credential is `{CLIENT_SECRET}`: remove the thumbprint, or replace the secret with `{CERTIFICATE_KEY}`"
            ),
        )),
        (Some(secret), None, None) => Ok(Credential::Secret(Secret::new(secret))),
        (None, Some(key), Some(thumbprint)) => {
            crate::assertion::check_private_key(&key)?;
            Ok(Credential::Certificate { private_key: Secret::new(key), thumbprint: parse_thumbprint(&thumbprint)? })
        }
        (None, Some(_), None) => Err(ConnectorError::config(
            CERTIFICATE_THUMBPRINT,
            format!(
                "`{CERTIFICATE_KEY}` is set but `{CERTIFICATE_THUMBPRINT}` is not: copy the certificate's thumbprint from the app registration's Certificates & secrets page"
            ),
        )),
        (None, None, _) => Err(ConnectorError::config(
            CLIENT_SECRET,
            format!(
                "`{CLIENT_SECRET}` is not set. Paste the client secret VALUE of the app registration (not the secret's ID), or set `{CERTIFICATE_KEY}` and `{CERTIFICATE_THUMBPRINT}` to sign in with a certificate."
            ),
        )),
    }
}

/// 40 hex digits, optionally separated by colons or spaces (as tools print thumbprints).
fn parse_thumbprint(value: &str) -> Result<[u8; 20], ConnectorError> {
    // Separators tools print, and the invisible marks Windows' certificate dialog copies along.
    let hex: String = value
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-' | '\u{200e}' | '\u{200f}' | '\u{feff}') && !c.is_whitespace())
        .collect();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ConnectorError::config(
            CERTIFICATE_THUMBPRINT,
            "this is a SHA-256 thumbprint (64 hex digits); give the SHA-1 thumbprint (40 hex digits) the app registration shows",
        ));
    }
    let bad = || {
        ConnectorError::config(
            CERTIFICATE_THUMBPRINT,
            format!("`{value}` is not a SHA-1 thumbprint: give the 40 hexadecimal digits the app registration shows"),
        )
    };
    if hex.len() != 40 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// Login, Graph and Defender hosts of different clouds can never work together (tokens are not
/// interchangeable): refuse such a mix when the settings load, naming both keys.
fn same_cloud(endpoints: &[(&str, &str)]) -> Result<(), ConnectorError> {
    let known: Vec<(&str, &str, &str)> = endpoints
        .iter()
        .filter_map(|(key, url)| crate::cloud::Cloud::of_host(url).map(|cloud| (*key, *url, cloud)))
        .collect();
    for pair in known.windows(2) {
        let ((k1, u1, c1), (k2, u2, c2)) = (pair[0], pair[1]);
        if c1 != c2 {
            return Err(ConnectorError::config(
                k2,
                format!(
                    "`{k1}` = {u1} is in the {c1} cloud but `{k2}` = {u2} is in the {c2} cloud; tokens of one cloud are not accepted in another: set `{CLOUD}` and leave the endpoints unset, or give endpoints of one cloud"
                ),
            ));
        }
    }
    Ok(())
}

fn check_tenant_id(value: &str) -> Result<(), ConnectorError> {
    let ok = value.len() <= 256
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !value.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(ConnectorError::config(
            TENANT_ID,
            "must be the Directory (tenant) ID, a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47, or a domain such as contoso.onmicrosoft.com; the value given contains other characters",
        ))
    }
}

/// True for `8-4-4-4-12` hex GUIDs.
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn check_guid(key: &str, value: &str, what: &str) -> Result<(), ConnectorError> {
    if value.chars().all(|c| c == '0' || c == '-') && is_guid(value) {
        return Err(ConnectorError::config(key, format!("is the all-zero placeholder GUID: replace it with {what}")));
    }
    if is_guid(value) {
        Ok(())
    } else {
        Err(ConnectorError::config(
            key,
            format!(
                "must be {what}, a GUID such as 00000000-0000-0000-0000-000000000000; the value given ({} characters) is not one",
                value.chars().count()
            ),
        ))
    }
}

fn endpoint(key: &str, value: &str) -> Result<String, ConnectorError> {
    let fix = "give a base URL such as https://graph.microsoft.com (scheme and host, optional port, no path)";
    let parts = crate::http::split_url(value)
        .map_err(|_| ConnectorError::config(key, format!("`{value}` is not an http(s) URL: {fix}")))?;
    if parts.path_and_query != "/" {
        return Err(ConnectorError::config(key, format!("`{value}` has a path or query: {fix}")));
    }
    Ok(format!("{}://{}", parts.scheme, parts.authority))
}

fn parse_backfill(value: &str) -> Result<Backfill, ConnectorError> {
    if let Ok(ts) = Timestamp::parse(value) {
        return Ok(Backfill::Since(ts));
    }
    parse_duration(BACKFILL, value, 1).map(Backfill::Window)
}

/// `90s`, `10m`, `24h`, `7d` → seconds, at least `min` and at most 365 days.
fn parse_duration(key: &str, value: &str, min: i64) -> Result<i64, ConnectorError> {
    let fix = |why: &str| {
        let instant = if key == BACKFILL { ", or an RFC 3339 instant such as 2024-01-01T00:00:00Z" } else { "" };
        ConnectorError::config(key, format!("`{value}` {why}: use a duration such as 24h, 90m or 7d{instant}"))
    };
    let (number, unit) = value.split_at(value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len()));
    let n: i64 = number.parse().map_err(|_| fix("is not a duration"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(fix("has an unknown unit")),
    };
    if secs < min || secs > 365 * 86_400 {
        return Err(fix(if min > 0 { "must be between 1s and 365d" } else { "must be at most 365d" }));
    }
    Ok(secs)
}

fn page_size(key: &str, value: Option<String>, default: u32, max: u32) -> Result<u32, ConnectorError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ConnectorError::config(key, format!("`{value}` must be a whole number from 1 to {max}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn base() -> BTreeMap<String, String> {
        [
            (TENANT_ID, "contoso.onmicrosoft.com"),
            (CLIENT_ID, "00000000-0000-4000-8000-0000000000a1"),
            (CLIENT_SECRET, "s3cr3t-value"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn defaults_are_the_global_cloud() {
        let s = Settings::load(&base()).unwrap();
        assert_eq!(s.login_endpoint, "https://login.microsoftonline.com");
        assert_eq!(s.graph_endpoint, "https://graph.microsoft.com");
        assert_eq!(s.scope(), "https://graph.microsoft.com/.default");
        assert_eq!(s.backfill, Backfill::Window(86_400));
        assert_eq!(s.incidents_page_size, 50);
        assert_eq!(s.alerts_page_size, 100);
        assert_eq!(s.lookback_secs, 600);
    }

    #[test]
    fn endpoints_are_normalised() {
        let mut c = base();
        c.insert(GRAPH_ENDPOINT.into(), "http://127.0.0.1:8080/".into());
        let s = Settings::load(&c).unwrap();
        assert_eq!(s.graph_endpoint, "http://127.0.0.1:8080");
        assert_eq!(s.scope(), "http://127.0.0.1:8080/.default");
    }

    #[test]
    fn missing_and_bad_values_name_the_key_and_the_fix() {
        let mut c = base();
        c.remove(CLIENT_SECRET);
        let e = Settings::load(&c).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Config { key, message } if key == "client-secret" && message.contains("not set") && message.contains("certificate-private-key")),
            "{e:?}"
        );

        let mut c = base();
        c.insert(CLIENT_ID.into(), "my app".into());
        let e = Settings::load(&c).unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { key, .. } if key == "client-id"), "{e:?}");

        let mut c = base();
        c.insert(GRAPH_ENDPOINT.into(), "https://graph.microsoft.com/v1.0".into());
        let e = Settings::load(&c).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Config { key, message } if key == "graph-endpoint" && message.contains("has a path")),
            "{e:?}"
        );

        let mut c = base();
        c.insert(INCIDENTS_PAGE_SIZE.into(), "100".into());
        let e = Settings::load(&c).unwrap_err();
        assert_eq!(e, ConnectorError::config("incidents-page-size", "`100` must be a whole number from 1 to 50"));

        let mut c = base();
        c.insert(BACKFILL.into(), "3 weeks".into());
        assert!(matches!(Settings::load(&c).unwrap_err(), ConnectorError::Config { key, .. } if key == "backfill"));
    }

    #[test]
    fn the_cloud_preset_sets_every_host_and_an_explicit_endpoint_overrides_it() {
        let mut c = base();
        c.insert(CLOUD.into(), "gcc-high".into());
        let s = Settings::load(&c).unwrap();
        assert_eq!(
            (s.login_endpoint.as_str(), s.graph_endpoint.as_str(), s.defender_endpoint.as_str()),
            ("https://login.microsoftonline.us", "https://graph.microsoft.us", "https://api-gov.security.microsoft.us")
        );
        assert_eq!(s.scope(), "https://graph.microsoft.us/.default");
        assert_eq!(s.defender_scope(), "https://api-gov.security.microsoft.us/.default");

        c.insert(DEFENDER_ENDPOINT.into(), "http://127.0.0.1:9".into());
        assert_eq!(Settings::load(&c).unwrap().defender_endpoint, "http://127.0.0.1:9");
    }

    #[test]
    fn every_preset_loads_as_it_is() {
        for cloud in crate::cloud::ALL {
            let mut c = base();
            c.insert(CLOUD.into(), cloud.name().into());
            let s = Settings::load(&c).unwrap_or_else(|e| panic!("{}: {e}", cloud.name()));
            assert_eq!((s.login_endpoint.as_str(), s.defender_endpoint.as_str()), (cloud.login(), cloud.defender()));
        }
    }

    #[test]
    fn a_login_and_graph_pair_from_different_clouds_is_refused_naming_both() {
        let mut c = base();
        c.insert(GRAPH_ENDPOINT.into(), "https://graph.microsoft.us".into());
        let e = Settings::load(&c).unwrap_err();
        assert_eq!(
            e,
            ConnectorError::config(
                "graph-endpoint",
                "`login-endpoint` = https://login.microsoftonline.com is in the global cloud but `graph-endpoint` = https://graph.microsoft.us is in the us-government cloud; tokens of one cloud are not accepted in another: set `cloud` and leave the endpoints unset, or give endpoints of one cloud"
            )
        );
        let mut c = base();
        c.insert(CLOUD.into(), "china".into());
        assert!(matches!(Settings::load(&c).unwrap_err(), ConnectorError::Config { key, .. } if key == "cloud"));
    }

    #[test]
    fn credentials_are_a_secret_or_a_certificate_never_both() {
        let mut c = base();
        c.insert(CERTIFICATE_KEY.into(), crate::assertion::tests::KEY_PEM.into());
        let e = Settings::load(&c).unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { message, .. } if message.contains("both")), "{e:?}");
        c.remove(CLIENT_SECRET);
        let e = Settings::load(&c).unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { key, .. } if key == "certificate-thumbprint"), "{e:?}");
        c.insert(CERTIFICATE_THUMBPRINT.into(), "12:34".into());
        let e = Settings::load(&c).unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { key, .. } if key == "certificate-thumbprint"), "{e:?}");
        c.insert(CERTIFICATE_THUMBPRINT.into(), "\u{200e}0a-1B-2C3D4E5F60718293A4B5C6D7E8F901234567".into());
        let s = Settings::load(&c).unwrap();
        assert!(
            matches!(s.credential, Credential::Certificate { thumbprint, .. } if thumbprint[0] == 0x0a && thumbprint[19] == 0x67)
        );
        assert!(!format!("{s:?}").contains("PRIVATE KEY"));
        c.insert(CERTIFICATE_KEY.into(), "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----".into());
        let e = Settings::load(&c).unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { key, .. } if key == "certificate-private-key"), "{e:?}");
    }

    #[test]
    fn backfill_forms() {
        assert_eq!(parse_backfill("7d").unwrap(), Backfill::Window(7 * 86_400));
        assert_eq!(parse_backfill("90m").unwrap(), Backfill::Window(5400));
        assert_eq!(
            parse_backfill("2024-01-01T00:00:00Z").unwrap(),
            Backfill::Since(Timestamp::parse("2024-01-01T00:00:00Z").unwrap())
        );
        assert!(parse_backfill("0h").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Settings::load(&base()).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("Secret(***)"));
    }
}
