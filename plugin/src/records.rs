//! The connector's normalised records (the plain-Rust twins of the WIT records) and how Graph
//! objects become them.

use crate::error::ConnectorError;
use crate::model::{Evidence, GraphAlert, GraphIncident, UserAccount};
use crate::severity;
use crate::time::Timestamp;

/// Observables an incident or alert points at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceSummary {
    /// Device names.
    pub devices: Vec<String>,
    /// User names.
    pub users: Vec<String>,
    /// IP addresses.
    pub ips: Vec<String>,
    /// File names.
    pub files: Vec<String>,
    /// URLs.
    pub urls: Vec<String>,
    /// Mailbox addresses.
    pub mailboxes: Vec<String>,
    /// Evidence of other types.
    pub other: u32,
}

/// A normalised incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub score: u8,
    pub status: String,
    pub classification: Option<String>,
    pub determination: Option<String>,
    pub created: Timestamp,
    pub last_updated: Timestamp,
    pub service_sources: Vec<String>,
    pub detection_sources: Vec<String>,
    pub assigned_to: Option<String>,
    pub web_url: Option<String>,
    pub mitre_techniques: Vec<String>,
    pub alert_ids: Vec<String>,
    pub evidence: EvidenceSummary,
    pub redirect_incident_id: Option<String>,
    pub raw: String,
}

/// A normalised alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub score: u8,
    pub status: String,
    pub classification: Option<String>,
    pub determination: Option<String>,
    pub created: Timestamp,
    pub last_updated: Timestamp,
    pub service_source: Option<String>,
    pub detection_source: Option<String>,
    pub assigned_to: Option<String>,
    pub web_url: Option<String>,
    pub mitre_techniques: Vec<String>,
    pub incident_id: Option<String>,
    pub evidence: EvidenceSummary,
    pub raw: String,
}

/// A record that has an id and a version (what the cursor needs).
pub trait Versioned {
    /// Provider id.
    fn id(&self) -> &str;
    /// Last-update instant.
    fn version(&self) -> Timestamp;
}

impl Versioned for Incident {
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> Timestamp {
        self.last_updated
    }
}

impl Versioned for Alert {
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> Timestamp {
        self.last_updated
    }
}

/// Graph's known enum members, so PascalCase or upper-case spellings normalise to the wire form.
const KNOWN_ENUM_MEMBERS: &[&str] = &[
    // incidentStatus / alertStatus
    "active",
    "resolved",
    "inProgress",
    "redirected",
    "awaitingAction",
    "new",
    "unknown",
    "unknownFutureValue",
    // alertClassification
    "falsePositive",
    "truePositive",
    "informationalExpectedActivity",
    // alertDetermination
    "apt",
    "malware",
    "securityPersonnel",
    "securityTesting",
    "unwantedSoftware",
    "other",
    "multiStagedAttack",
    "compromisedAccount",
    "phishing",
    "maliciousUserActivity",
    "notMalicious",
    "notEnoughDataToValidate",
    "confirmedActivity",
    "lineOfBusinessApplication",
];

/// Graph's camelCase spelling of a known enum member, else the value as received.
pub fn canonical_enum(value: &str) -> String {
    KNOWN_ENUM_MEMBERS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(value.trim()))
        .map(|m| m.to_string())
        .unwrap_or_else(|| value.to_string())
}

fn required_time(field: &str, value: Option<&str>, kind: &str, id: &str) -> Result<Timestamp, ConnectorError> {
    let text = value.ok_or_else(|| ConnectorError::invalid(0, format!("{kind} {id} has no `{field}`")))?;
    Timestamp::parse(text).map_err(|e| ConnectorError::invalid(0, format!("{kind} {id}: `{field}` {e}")))
}

fn push_unique(list: &mut Vec<String>, value: Option<String>) {
    if let Some(v) = value.filter(|v| !v.trim().is_empty())
        && !list.contains(&v)
    {
        list.push(v);
    }
}

impl EvidenceSummary {
    /// Adds the evidence items of one alert.
    pub fn add(&mut self, evidence: &[Option<Evidence>]) {
        for item in evidence {
            let Some(item) = item else {
                self.other += 1;
                continue;
            };
            let kind = item
                .odata_type
                .as_deref()
                .map(|t| t.trim_start_matches('#').trim_start_matches("microsoft.graph.security."))
                .unwrap_or_default();
            match kind {
                "deviceEvidence" => push_unique(
                    &mut self.devices,
                    text(&item.device_dns_name).or_else(|| text(&item.host_name)).or_else(|| text(&item.mde_device_id)),
                ),
                "userEvidence" => push_unique(&mut self.users, user_name(item.user_account.as_ref())),
                "ipEvidence" => push_unique(&mut self.ips, text(&item.ip_address)),
                "urlEvidence" => push_unique(&mut self.urls, text(&item.url)),
                "fileEvidence" => push_unique(
                    &mut self.files,
                    item.file_details.as_ref().and_then(|f| text(&f.file_name).or_else(|| text(&f.sha256))),
                ),
                "mailboxEvidence" => {
                    push_unique(&mut self.mailboxes, text(&item.primary_address).or_else(|| text(&item.upn)))
                }
                _ => self.other += 1,
            }
        }
    }

    /// Merges another summary into this one.
    pub fn merge(&mut self, other: EvidenceSummary) {
        for (mine, theirs) in [
            (&mut self.devices, other.devices),
            (&mut self.users, other.users),
            (&mut self.ips, other.ips),
            (&mut self.files, other.files),
            (&mut self.urls, other.urls),
            (&mut self.mailboxes, other.mailboxes),
        ] {
            for v in theirs {
                push_unique(mine, Some(v));
            }
        }
        self.other += other.other;
    }
}

/// A field's text, unless it is missing or empty.
fn text(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

fn user_name(account: Option<&UserAccount>) -> Option<String> {
    let account = account?;
    text(&account.user_principal_name).or_else(|| {
        let name = text(&account.account_name)?;
        Some(match text(&account.domain_name) {
            Some(domain) => format!("{domain}\\{name}"),
            None => name,
        })
    })
}

/// JSON text with lone UTF-16 surrogate escapes (`\ud800` without its pair) replaced by `\ufffd`.
/// No Rust string can hold a lone surrogate, so one such character in a free-text field (a
/// title typed in a portal) would otherwise fail the record, and with it the page, forever.
pub fn repair_lone_surrogates(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    let hex = |at: usize| -> Option<u16> {
        let h = b.get(at..at + 4)?;
        h.iter().all(u8::is_ascii_hexdigit).then(|| u16::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())?
    };
    let is_high = |u: u16| (0xD800..0xDC00).contains(&u);
    let is_low = |u: u16| (0xDC00..0xE000).contains(&u);
    let mut out = String::new();
    let (mut i, mut copied) = (0, 0);
    while i + 1 < b.len() {
        match next_backslash(b, i) {
            Some(at) if at + 1 < b.len() => i = at,
            _ => break,
        }
        match (b[i + 1], hex(i + 2)) {
            (b'u', Some(u)) if is_high(u) && b.get(i + 6..i + 8) == Some(b"\\u") && hex(i + 8).is_some_and(is_low) => {
                i += 12; // a proper pair
            }
            (b'u', Some(u)) if is_high(u) || is_low(u) => {
                out.push_str(&text[copied..i]);
                out.push_str("\\ufffd");
                i += 6;
                copied = i;
            }
            (b'u', Some(_)) => i += 6,
            _ => i += 2, // any other escape, including `\\`
        }
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    std::borrow::Cow::Owned(out)
}

/// The first `\\` at or after `from`, eight bytes at a time (most payloads have few escapes, and
/// this scan runs over every byte of every record).
fn next_backslash(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const PATTERN: u64 = ONES * b'\\' as u64;
    let mut i = from;
    while i + 8 <= b.len() {
        let word = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
        let x = word ^ PATTERN;
        // A zero byte in `x` is a backslash in `word`.
        if (x.wrapping_sub(ONES) & !x & HIGHS) != 0 {
            break;
        }
        i += 8;
    }
    b[i..].iter().position(|&c| c == b'\\').map(|p| i + p)
}

/// Normalises one incident from its raw JSON text.
pub fn incident_from_raw(raw: &str) -> Result<Incident, ConnectorError> {
    let raw = &*repair_lone_surrogates(raw);
    let g: GraphIncident = crate::model::from_str_last_wins(raw)
        .map_err(|e| ConnectorError::invalid(0, format!("an incident is not a JSON object: {e}")))?;
    let id = g.id.filter(|s| !s.is_empty()).ok_or_else(|| ConnectorError::invalid(0, "an incident has no `id`"))?;
    let last_updated = required_time("lastUpdateDateTime", g.last_update_date_time.as_deref(), "incident", &id)?;
    // createdDateTime is non-nullable in the schema; if a server omits it anyway, keep the record.
    let created = match g.created_date_time.as_deref() {
        Some(t) => required_time("createdDateTime", Some(t), "incident", &id)?,
        None => last_updated,
    };
    let severity = g.severity.unwrap_or_else(|| "unknown".into());
    let mut evidence = EvidenceSummary::default();
    let (mut service_sources, mut detection_sources, mut mitre, mut alert_ids) = (vec![], vec![], vec![], vec![]);
    for alert in &g.alerts {
        push_unique(&mut alert_ids, alert.id.clone());
        push_unique(&mut service_sources, alert.service_source.clone());
        push_unique(&mut detection_sources, alert.detection_source.clone());
        for t in &alert.mitre_techniques {
            push_unique(&mut mitre, Some(t.clone()));
        }
        evidence.add(&alert.evidence);
    }
    Ok(Incident {
        title: g.display_name.unwrap_or_default(),
        score: severity::score(&severity),
        severity,
        status: canonical_enum(g.status.as_deref().unwrap_or("unknown")),
        classification: g.classification.map(|c| canonical_enum(&c)),
        determination: g.determination.map(|d| canonical_enum(&d)),
        created,
        last_updated,
        service_sources,
        detection_sources,
        assigned_to: g.assigned_to,
        web_url: g.incident_web_url,
        mitre_techniques: mitre,
        alert_ids,
        evidence,
        redirect_incident_id: g.redirect_incident_id,
        raw: raw.to_string(),
        id,
    })
}

/// Normalises one alert from its raw JSON text.
pub fn alert_from_raw(raw: &str) -> Result<Alert, ConnectorError> {
    let raw = &*repair_lone_surrogates(raw);
    let g: GraphAlert = crate::model::from_str_last_wins(raw)
        .map_err(|e| ConnectorError::invalid(0, format!("an alert is not a JSON object: {e}")))?;
    let id = g.id.filter(|s| !s.is_empty()).ok_or_else(|| ConnectorError::invalid(0, "an alert has no `id`"))?;
    let last_updated = required_time("lastUpdateDateTime", g.last_update_date_time.as_deref(), "alert", &id)?;
    let created = match g.created_date_time.as_deref() {
        Some(t) => required_time("createdDateTime", Some(t), "alert", &id)?,
        None => last_updated,
    };
    let severity = g.severity.unwrap_or_else(|| "unknown".into());
    let mut evidence = EvidenceSummary::default();
    evidence.add(&g.evidence);
    let mut mitre = Vec::new();
    for t in g.mitre_techniques {
        push_unique(&mut mitre, Some(t));
    }
    Ok(Alert {
        title: g.title.unwrap_or_default(),
        score: severity::score(&severity),
        severity,
        status: canonical_enum(g.status.as_deref().unwrap_or("unknown")),
        classification: g.classification.map(|c| canonical_enum(&c)),
        determination: g.determination.map(|d| canonical_enum(&d)),
        created,
        last_updated,
        service_source: g.service_source,
        detection_source: g.detection_source,
        assigned_to: g.assigned_to,
        web_url: g.alert_web_url,
        mitre_techniques: mitre,
        incident_id: g.incident_id,
        evidence,
        raw: raw.to_string(),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_wise_backslash_search_finds_the_first_one_anywhere() {
        for len in 0..40 {
            for at in 0..len {
                let mut text = vec![b'a'; len];
                text[at] = b'\\';
                if at + 3 < len {
                    text[at + 3] = b'\\';
                }
                for from in 0..=at {
                    assert_eq!(next_backslash(&text, from), Some(at), "len {len} at {at} from {from}");
                }
                assert_eq!(next_backslash(&text, at + 1), (at + 3 < len).then_some(at + 3));
            }
            assert_eq!(next_backslash(&vec![0xe9; len], 0), None);
        }
    }

    #[test]
    fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
        assert_eq!(repair_lone_surrogates(r#"{"t":"a\ud800b"}"#), r#"{"t":"a\ufffdb"}"#);
        assert_eq!(repair_lone_surrogates(r#"{"t":"\udc00\ud800"}"#), r#"{"t":"\ufffd\ufffd"}"#);
        assert_eq!(repair_lone_surrogates(r#"{"t":"\ud83d\ude00 ok"}"#), r#"{"t":"\ud83d\ude00 ok"}"#);
        assert_eq!(repair_lone_surrogates(r#"{"t":"\\ud800 is text"}"#), r#"{"t":"\\ud800 is text"}"#);
        assert_eq!(repair_lone_surrogates(r#"{"t":"\u00e9\ud800"}"#), r#"{"t":"\u00e9\ufffd"}"#);
        assert!(matches!(repair_lone_surrogates("{}"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn an_incident_with_a_lone_surrogate_in_its_title_is_kept() {
        let raw = r#"{"id":"7","displayName":"Bad \ud800 title","severity":"high","status":"active","createdDateTime":"2026-12-03T10:00:00Z","lastUpdateDateTime":"2026-12-03T10:00:00Z"}"#;
        let i = incident_from_raw(raw).unwrap();
        assert_eq!(i.title, "Bad \u{fffd} title");
        assert_eq!((i.id.as_str(), i.score), ("7", 70));
        assert!(i.raw.contains(r"Bad \ufffd title"), "{}", i.raw);
        let raw = r#"{"id":"a1","title":"x\udfff","lastUpdateDateTime":"2026-12-03T10:00:00Z"}"#;
        assert_eq!(alert_from_raw(raw).unwrap().title, "x\u{fffd}");
    }
}
