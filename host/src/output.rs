//! NDJSON output, schema `redcarbon.connector.record/v1`: one record per line, written and
//! flushed to durable storage before the cursor that covers it is saved.

use crate::bindings::{Alert, EvidenceSummary, Incident, Timestamp};
use serde::Serialize;
use serde_json::value::RawValue;
use std::io::Write;
use std::path::Path;

/// Schema identifier written on every record.
pub const SCHEMA: &str = "redcarbon.connector.record/v1";

/// Which connector version produced a record.
#[derive(Debug, Clone, Serialize)]
pub struct Producer {
    /// Connector name.
    pub name: String,
    /// Connector version.
    pub version: String,
}

#[derive(Serialize)]
struct Evidence<'a> {
    devices: &'a [String],
    users: &'a [String],
    ips: &'a [String],
    files: &'a [String],
    urls: &'a [String],
    mailboxes: &'a [String],
    other: u32,
}

impl<'a> From<&'a EvidenceSummary> for Evidence<'a> {
    fn from(e: &'a EvidenceSummary) -> Self {
        Evidence {
            devices: &e.devices,
            users: &e.users,
            ips: &e.ips,
            files: &e.files,
            urls: &e.urls,
            mailboxes: &e.mailboxes,
            other: e.other,
        }
    }
}

#[derive(Serialize)]
struct Common<'a> {
    schema: &'static str,
    key: String,
    tenant: &'a str,
    kind: &'static str,
    id: &'a str,
    version: &'a str,
    connector: &'a Producer,
    title: &'a str,
    severity: &'a str,
    score: u8,
    status: &'a str,
    classification: Option<&'a str>,
    determination: Option<&'a str>,
    created: String,
    last_updated: String,
    assigned_to: Option<&'a str>,
    web_url: Option<&'a str>,
    mitre_techniques: &'a [String],
    evidence: Evidence<'a>,
}

#[derive(Serialize)]
struct IncidentLine<'a> {
    #[serde(flatten)]
    common: Common<'a>,
    service_sources: &'a [String],
    detection_sources: &'a [String],
    alert_ids: &'a [String],
    redirect_incident_id: Option<&'a str>,
    raw: Box<RawValue>,
}

#[derive(Serialize)]
struct AlertLine<'a> {
    #[serde(flatten)]
    common: Common<'a>,
    service_source: Option<&'a str>,
    detection_source: Option<&'a str>,
    incident_id: Option<&'a str>,
    raw: Box<RawValue>,
}

/// Canonical RFC 3339 text of a WIT timestamp (UTC, 7 fractional digits).
pub fn format_timestamp(t: &Timestamp) -> String {
    let dt = chrono::DateTime::<chrono::Utc>::from_timestamp(t.seconds, 0).unwrap_or_default();
    format!("{}.{:07}Z", dt.format("%Y-%m-%dT%H:%M:%S"), t.nanoseconds / 100)
}

fn raw_json(raw: &str, id: &str) -> anyhow::Result<Box<RawValue>> {
    let invalid = |e: serde_json::Error| anyhow::anyhow!("record {id}: the connector's raw payload is not JSON: {e}");
    if !raw.contains(['\n', '\r']) {
        // One parse validates and copies it (most payloads: Graph sends compact JSON).
        return serde_json::from_str::<Box<RawValue>>(raw).map_err(invalid);
    }
    // Validated before compaction: dropping whitespace from invalid text could make it valid.
    let value: &RawValue = serde_json::from_str(raw).map_err(invalid)?;
    Ok(RawValue::from_string(compact_json(value.get()))?)
}

/// Drops whitespace outside strings so a pretty-printed payload fits on one NDJSON line, keeping
/// key order and every value's exact text. Only for text already validated as JSON.
pub fn compact_json(json: &str) -> String {
    if !json.contains(['\n', '\r']) {
        return json.to_string();
    }
    // Byte-wise: every byte that matters here is ASCII, and UTF-8 never repeats an ASCII byte
    // inside a multi-byte character.
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &c in json.as_bytes() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = c == b'"';
            out.push(c);
        }
    }
    String::from_utf8(out).expect("only ASCII whitespace between tokens was removed")
}

/// One NDJSON line for an incident.
pub fn incident_line(tenant: &str, producer: &Producer, i: &Incident) -> anyhow::Result<String> {
    let line = IncidentLine {
        common: Common {
            schema: SCHEMA,
            key: format!("{tenant}/incident/{}", i.id),
            tenant,
            kind: "incident",
            id: &i.id,
            version: &i.version,
            connector: producer,
            title: &i.title,
            severity: &i.severity,
            score: i.score,
            status: &i.status,
            classification: i.classification.as_deref(),
            determination: i.determination.as_deref(),
            created: format_timestamp(&i.created),
            last_updated: format_timestamp(&i.last_updated),
            assigned_to: i.assigned_to.as_deref(),
            web_url: i.web_url.as_deref(),
            mitre_techniques: &i.mitre_techniques,
            evidence: (&i.evidence).into(),
        },
        service_sources: &i.service_sources,
        detection_sources: &i.detection_sources,
        alert_ids: &i.alert_ids,
        redirect_incident_id: i.redirect_incident_id.as_deref(),
        raw: raw_json(&i.raw, &i.id)?,
    };
    Ok(serde_json::to_string(&line)?)
}

/// One NDJSON line for an alert.
pub fn alert_line(tenant: &str, producer: &Producer, a: &Alert) -> anyhow::Result<String> {
    let line = AlertLine {
        common: Common {
            schema: SCHEMA,
            key: format!("{tenant}/alert/{}", a.id),
            tenant,
            kind: "alert",
            id: &a.id,
            version: &a.version,
            connector: producer,
            title: &a.title,
            severity: &a.severity,
            score: a.score,
            status: &a.status,
            classification: a.classification.as_deref(),
            determination: a.determination.as_deref(),
            created: format_timestamp(&a.created),
            last_updated: format_timestamp(&a.last_updated),
            assigned_to: a.assigned_to.as_deref(),
            web_url: a.web_url.as_deref(),
            mitre_techniques: &a.mitre_techniques,
            evidence: (&a.evidence).into(),
        },
        service_source: a.service_source.as_deref(),
        detection_source: a.detection_source.as_deref(),
        incident_id: a.incident_id.as_deref(),
        raw: raw_json(&a.raw, &a.id)?,
    };
    Ok(serde_json::to_string(&line)?)
}

/// Drops a partial last line left by a crash mid-write. Its records were never covered by a saved
/// cursor, so they are fetched and written again; appending after the fragment would corrupt
/// the next record.
fn repair_torn_tail(path: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    // Walk back in blocks to the last newline.
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..n])?;
        if let Some(pos) = block[..n].iter().rposition(|b| *b == b'\n') {
            let keep = start + pos as u64 + 1;
            if keep != len {
                tracing::warn!(path = %path.display(), dropped_bytes = len - keep, "dropping a partial last record left by an interrupted write");
                file.set_len(keep)?;
                file.sync_all()?;
            }
            return Ok(());
        }
        if start == 0 {
            tracing::warn!(path = %path.display(), dropped_bytes = len, "dropping a partial record left by an interrupted write");
            file.set_len(0)?;
            return file.sync_all();
        }
        end = start;
    }
}

/// Records to a file: appended, then synced once for every batch of pages queued meanwhile.
struct FileLog {
    file: std::fs::File,
    path: String,
}

impl crate::durable::Log for FileLog {
    type Entry = Vec<u8>;
    fn append(&mut self, bytes: &Vec<u8>) -> std::io::Result<()> {
        self.file.write_all(bytes)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }
    fn name(&self) -> String {
        self.path.clone()
    }
}

/// Records to standard output, flushed for every batch.
struct StdoutLog;

impl crate::durable::Log for StdoutLog {
    type Entry = Vec<u8>;
    fn append(&mut self, bytes: &Vec<u8>) -> std::io::Result<()> {
        std::io::stdout().lock().write_all(bytes)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
    fn name(&self) -> String {
        "standard output".into()
    }
}

/// Where records go; shared by all tenants. Pages are written whole and in one piece each, and
/// pages finished at the same time share one sync (group commit).
pub struct RecordSink {
    committer: crate::durable::Committer<Vec<u8>>,
}

impl RecordSink {
    /// Standard output.
    pub fn stdout() -> std::io::Result<Self> {
        Ok(RecordSink { committer: crate::durable::Committer::start(StdoutLog)? })
    }

    /// Appends to a file, creating it (and its folder) if needed.
    pub fn file(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        repair_torn_tail(path)?;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let log = FileLog { file, path: path.display().to_string() };
        Ok(RecordSink { committer: crate::durable::Committer::start(log)? })
    }

    /// `-` is stdout, anything else a file.
    pub fn open(spec: &str) -> std::io::Result<Self> {
        if spec == "-" { RecordSink::stdout() } else { RecordSink::file(Path::new(spec)) }
    }

    /// Writes whole lines and returns once they are durable (fsync for files, flush for stdout).
    pub async fn write_lines(&self, lines: &[String]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.committer.commit(join_lines(lines)).await
    }

    /// Why the output takes no more records, if a write or sync failed.
    pub fn poisoned(&self) -> Option<String> {
        self.committer.poisoned()
    }

    /// [`RecordSink::write_lines`] outside an async runtime.
    pub fn write_lines_blocking(&self, lines: &[String]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.committer.commit_blocking(join_lines(lines))
    }
}

fn join_lines(lines: &[String]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        buf.extend_from_slice(l.as_bytes());
        buf.push(b'\n');
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_payloads_become_one_line_with_strings_untouched() {
        let pretty = "{\n  \"a\" : [1, 2],\n\t\"b\": \"x  \\\" y\\n\"\r\n}";
        assert_eq!(compact_json(pretty), "{\"a\":[1,2],\"b\":\"x  \\\" y\\n\"}");
        let v1: serde_json::Value = serde_json::from_str(pretty).unwrap();
        let v2: serde_json::Value = serde_json::from_str(&compact_json(pretty)).unwrap();
        assert_eq!(v1, v2);
        assert_eq!(compact_json("{\n  \"n\": \"日本 é\\\\\"\n}"), "{\"n\":\"日本 é\\\\\"}");
    }

    #[test]
    fn a_torn_last_line_is_dropped_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let sink = RecordSink::file(&path).unwrap();
        sink.write_lines_blocking(&["{\"c\":3}".to_string()]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"c\":3}\n");
        std::fs::write(&path, "{\"only-a-fragment").unwrap();
        drop(RecordSink::file(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_fails_every_later_one_and_says_why() {
        // Every write to /dev/full fails with "No space left on device".
        let sink = RecordSink::file(Path::new("/dev/full")).unwrap();
        assert_eq!(sink.poisoned(), None);
        let e = sink.write_lines_blocking(&["{}".to_string()]).unwrap_err().to_string();
        assert!(e.starts_with("writing /dev/full failed (No space left on device"), "{e}");
        assert!(
            e.ends_with(
                "nothing more is written to it until the host restarts (what was not confirmed is fetched again then)"
            ),
            "{e}"
        );
        assert_eq!(sink.poisoned().as_deref(), Some(e.as_str()));
        assert_eq!(sink.write_lines_blocking(&["{}".to_string()]).unwrap_err().to_string(), e);
    }

    #[test]
    fn timestamps_have_seven_digits() {
        assert_eq!(
            format_timestamp(&Timestamp { seconds: 1_711_460_145, nanoseconds: 230_000_000 }),
            "2024-03-26T13:35:45.2300000Z"
        );
        assert_eq!(format_timestamp(&Timestamp { seconds: 0, nanoseconds: 100 }), "1970-01-01T00:00:00.0000001Z");
    }
}
