//! Cursors and health of every tenant in one append-only journal, `<state_dir>/state.journal`:
//! one JSON line per change, group-committed (see [`crate::durable`]), replayed when the host
//! starts, and rewritten compactly once most of its lines are superseded.
//!
//! One file instead of a small file per tenant and stream: replacing a file durably costs a new
//! inode, two fsyncs and a directory fsync, and at thousands of tenants those were most of a poll
//! cycle. An append shares its fsync with every other tenant's append of the same moment.
//! State written by earlier versions (`<tenant>/<stream>.cursor`, `<tenant>/health.json`) is
//! imported into the journal when the host opens the state directory, then removed.

use crate::durable::{Committer, Log};
use crate::health::Health;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Name of the journal inside the state directory.
pub const JOURNAL: &str = "state.journal";

/// The journal is rewritten when it is at least this big and most of its lines are superseded.
const COMPACT_MIN_BYTES: u64 = 8 << 20;

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Entry {
    /// A stream's cursor after a page was written.
    Cursor { tenant: String, stream: String, cursor: String },
    /// A tenant's health after a poll.
    Health { tenant: String, health: Health },
    /// `connector-host reset`: the tenant's cursors (all, or one stream's) are forgotten.
    Reset { tenant: String, stream: Option<String> },
}

/// Cursors and health as the journal says they are.
#[derive(Debug, Default, Clone)]
pub struct StateView {
    cursors: HashMap<String, HashMap<String, String>>,
    health: HashMap<String, Health>,
    /// Cursors held (kept as a count: summing per tenant after every commit cost O(tenants)).
    cursor_count: usize,
}

impl StateView {
    /// Reads a state directory without changing it (for `status` and tests; works while a host runs).
    pub fn read(dir: &Path) -> io::Result<StateView> {
        let mut view = StateView::default();
        replay(&dir.join(JOURNAL), &mut view, false)?;
        for (entry, _) in legacy_files(dir)? {
            if view.missing(&entry) {
                view.apply(&entry);
            }
        }
        Ok(view)
    }

    /// The stored cursor of `tenant`'s `stream`.
    pub fn cursor(&self, tenant: &str, stream: &str) -> Option<&str> {
        self.cursors.get(tenant)?.get(stream).map(String::as_str)
    }

    /// The tenant's health, if recorded.
    pub fn health(&self, tenant: &str) -> Option<&Health> {
        self.health.get(tenant)
    }

    fn apply(&mut self, entry: &Entry) {
        match entry {
            Entry::Cursor { tenant, stream, cursor } => {
                let streams = self.cursors.entry(tenant.clone()).or_default();
                if streams.insert(stream.clone(), cursor.clone()).is_none() {
                    self.cursor_count += 1;
                }
            }
            Entry::Health { tenant, health } => {
                self.health.insert(tenant.clone(), health.clone());
            }
            Entry::Reset { tenant, stream: None } => {
                if let Some(streams) = self.cursors.remove(tenant) {
                    self.cursor_count -= streams.len();
                }
            }
            Entry::Reset { tenant, stream: Some(stream) } => {
                if let Some(c) = self.cursors.get_mut(tenant) {
                    if c.remove(stream).is_some() {
                        self.cursor_count -= 1;
                    }
                    if c.is_empty() {
                        self.cursors.remove(tenant);
                    }
                }
            }
        }
    }

    /// True when the journal has nothing for what a legacy file holds.
    fn missing(&self, entry: &Entry) -> bool {
        match entry {
            Entry::Cursor { tenant, stream, .. } => self.cursor(tenant, stream).is_none(),
            Entry::Health { tenant, .. } => self.health(tenant).is_none(),
            Entry::Reset { .. } => false,
        }
    }

    /// Every live line, for a compact rewrite.
    fn lines(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (tenant, streams) in &self.cursors {
            for (stream, cursor) in streams {
                let e = Entry::Cursor { tenant: tenant.clone(), stream: stream.clone(), cursor: cursor.clone() };
                out.extend(line(&e));
            }
        }
        for (tenant, health) in &self.health {
            out.extend(line(&Entry::Health { tenant: tenant.clone(), health: health.clone() }));
        }
        out
    }

    fn entries(&self) -> usize {
        self.cursor_count + self.health.len()
    }
}

fn line(entry: &Entry) -> Vec<u8> {
    let mut l = serde_json::to_vec(entry).expect("journal entries serialise");
    l.push(b'\n');
    l
}

/// Replays `path` into `view`. A damaged tail (a write cut short by a crash: a line without its
/// newline, or zeros where a block was never written) is where confirmed writes end; `repair`
/// cuts it off. A damaged line with good lines after it is not a crash and stops the host.
fn replay(path: &Path, view: &mut StateView, repair: bool) -> io::Result<u64> {
    match std::fs::metadata(path) {
        // A FIFO or a device would block or never end; a folder cannot be appended to.
        Ok(m) if !m.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: is not a regular file; move it away", path.display()),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(at(path, e)),
    }
    let bytes = std::fs::read(path).map_err(|e| at(path, e))?;
    let mut good_end = 0usize;
    // Line number, whether it starts with a zero byte (a block the disk never wrote), why.
    let mut damaged: Option<(usize, bool, String)> = None;
    let mut lines = 0u64;
    let mut pos = 0usize;
    for (n, raw) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        pos += raw.len();
        let parsed = match raw.strip_suffix(b"\n") {
            Some(line) => serde_json::from_slice::<Entry>(line).map_err(|e| e.to_string()),
            None => Err("the line has no end".to_string()),
        };
        match (parsed, &damaged) {
            (Ok(entry), None) => {
                view.apply(&entry);
                good_end = pos;
                lines += 1;
            }
            // Zeros are where a block was never written before a crash: nothing from there on
            // was acknowledged (a sync covers everything before it), even lines that look whole.
            (Ok(_), Some((_, true, _))) => {}
            (Ok(_), Some((line_no, false, why))) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: line {line_no} is damaged ({why}) and later lines are not, so this is not a crash's \
                         cut-off write (a line of a newer connector-host version?); fix or remove that line, or move \
                         the file away to start every tenant from its backfill (records may be emitted again)",
                        path.display()
                    ),
                ));
            }
            (Err(why), None) => damaged = Some((n + 1, raw.first() == Some(&0), why)),
            (Err(_), Some(_)) => {}
        }
    }
    if let Some((line_no, _, _)) = damaged {
        let dropped = bytes.len() - good_end;
        if repair {
            tracing::warn!(path = %path.display(), line = line_no, dropped_bytes = dropped,
                "dropping the unconfirmed tail of the state journal left by an interrupted write");
            let f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| at(path, e))?;
            f.set_len(good_end as u64).map_err(|e| at(path, e))?;
            f.sync_all().map_err(|e| at(path, e))?;
        }
    }
    Ok(lines)
}

/// State files of earlier versions: `<dir>/<tenant>/<stream>.cursor` and `<dir>/<tenant>/health.json`.
fn legacy_files(dir: &Path) -> io::Result<Vec<(Entry, PathBuf)>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(at(dir, e)),
    };
    for tenant_dir in entries.filter_map(Result::ok) {
        if !tenant_dir.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Some(tenant) = tenant_dir.file_name().to_str().map(str::to_string) else { continue };
        let Ok(files) = std::fs::read_dir(tenant_dir.path()) else { continue };
        for file in files.filter_map(Result::ok) {
            let path = file.path();
            let name = file.file_name().to_string_lossy().into_owned();
            // Only what earlier versions wrote: other files in these folders are not ours.
            if let Some(stream) = name.strip_suffix(".cursor").filter(|s| matches!(*s, "incidents" | "alerts")) {
                let cursor = std::fs::read_to_string(&path).map_err(|e| at(&path, e))?;
                found.push((Entry::Cursor { tenant: tenant.clone(), stream: stream.to_string(), cursor }, path));
            } else if name == "health.json" {
                // Health is advisory: an unreadable old file is skipped, not fatal.
                if let Some(health) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()) {
                    found.push((Entry::Health { tenant: tenant.clone(), health }, path));
                }
            }
        }
    }
    Ok(found)
}

/// Owner-only permissions for a new file: the journal holds nextLinks and error texts.
fn private(options: &mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The journal as the committer thread owns it.
struct JournalLog {
    path: PathBuf,
    file: std::fs::File,
    view: Arc<Mutex<StateView>>,
    /// Lines in the file.
    lines: u64,
    bytes: u64,
    /// Set when a compaction failed after its rename: appends could land in the replaced file.
    broken: Option<String>,
}

impl Log for JournalLog {
    type Entry = (Entry, Vec<u8>);

    fn append(&mut self, (_, bytes): &(Entry, Vec<u8>)) -> io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        self.file.write_all(bytes)?;
        self.lines += 1;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn committed(&mut self, entries: Vec<(Entry, Vec<u8>)>) {
        let live = {
            let mut view = self.view.lock().unwrap_or_else(|p| p.into_inner());
            for (e, _) in &entries {
                view.apply(e);
            }
            view.entries() as u64
        };
        // On failure the journal is intact (the rewrite goes to another file first); it only stays long.
        if self.bytes >= COMPACT_MIN_BYTES
            && self.lines > 2 * live.max(1)
            && let Err(e) = self.compact()
        {
            tracing::warn!(path = %self.path.display(), error = %e, "could not compact the state journal; it keeps growing until the next try");
        }
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

impl JournalLog {
    /// Writes the live lines to a new file, makes it durable, and renames it over the journal.
    fn compact(&mut self) -> io::Result<()> {
        let started = std::time::Instant::now();
        let snapshot = self.view.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let bytes = snapshot.lines();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("journal.new");
        let mut file = private(std::fs::OpenOptions::new().create(true).write(true).truncate(true)).open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        // From here the old file is gone from the folder: a failure must stop all appends.
        let reopened = std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .and_then(|_| std::fs::OpenOptions::new().append(true).open(&self.path));
        let before = self.bytes;
        self.file = match reopened {
            Ok(f) => f,
            Err(e) => {
                self.broken = Some(format!("compacting {} failed after the rename: {e}", self.path.display()));
                return Err(e);
            }
        };
        self.lines = snapshot.entries() as u64;
        self.bytes = bytes.len() as u64;
        tracing::info!(path = %self.path.display(), before_bytes = before, after_bytes = self.bytes,
            elapsed_ms = started.elapsed().as_millis() as u64, "state journal compacted");
        Ok(())
    }
}

/// The state directory of a running host: cursors and health in memory, every change durable in
/// the journal before it is acknowledged.
pub struct CheckpointStore {
    dir: PathBuf,
    view: Arc<Mutex<StateView>>,
    committer: Committer<(Entry, Vec<u8>)>,
}

impl CheckpointStore {
    /// Opens (creating it if needed) the state directory `dir`: replays the journal, cuts off a
    /// tail a crash left unconfirmed, and imports state files of earlier versions.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| at(&dir, e))?;
        let path = dir.join(JOURNAL);
        let mut view = StateView::default();
        let lines = replay(&path, &mut view, true)?;
        let file =
            private(std::fs::OpenOptions::new().create(true).append(true)).open(&path).map_err(|e| at(&path, e))?;
        let bytes = file.metadata().map_err(|e| at(&path, e))?.len();
        let journal_written = file.metadata().and_then(|m| m.modified()).ok().filter(|_| bytes > 0);
        let legacy = legacy_files(&dir)?;
        let view = Arc::new(Mutex::new(view));
        let log = JournalLog { path: path.clone(), file, view: view.clone(), lines, bytes, broken: None };
        let store = CheckpointStore { dir, view, committer: Committer::start(log)? };
        store.import(legacy, journal_written)?;
        Ok(store)
    }

    /// Moves state files of earlier versions into the journal (durably), then removes them. A file
    /// older than the journal's last write, for state the journal already holds, is superseded: it
    /// is renamed (`….superseded`), not imported, not deleted.
    fn import(&self, legacy: Vec<(Entry, PathBuf)>, journal_written: Option<std::time::SystemTime>) -> io::Result<()> {
        if legacy.is_empty() {
            return Ok(());
        }
        let count = legacy.len();
        for (entry, path) in legacy {
            let missing = self.view.lock().unwrap_or_else(|p| p.into_inner()).missing(&entry);
            // A file written after the journal (an older version ran again meanwhile) is newer state.
            let newer = match (std::fs::metadata(&path).and_then(|m| m.modified()).ok(), journal_written) {
                (Some(file), Some(journal)) => file > journal,
                _ => true,
            };
            if missing || newer {
                let bytes = line(&entry);
                self.committer.commit_blocking((entry, bytes))?;
                std::fs::remove_file(&path).map_err(|e| at(&path, e))?;
            } else {
                let kept = path.with_extension(format!(
                    "{}.superseded",
                    path.extension().and_then(|e| e.to_str()).unwrap_or_default()
                ));
                tracing::warn!(file = %path.display(), kept = %kept.display(),
                    "a state file of an earlier version is older than the state journal; kept aside, not imported");
                std::fs::rename(&path, &kept).map_err(|e| at(&path, e))?;
            }
            if let Some(parent) = path.parent() {
                let _ = std::fs::remove_dir(parent); // only when empty
            }
        }
        tracing::info!(dir = %self.dir.display(), files = count, "state files of an earlier version moved into the state journal");
        Ok(())
    }

    /// Why the journal takes no more writes, if a write or sync failed.
    pub fn poisoned(&self) -> Option<String> {
        self.committer.poisoned()
    }

    /// The stored cursor of `tenant`'s `kind` stream, if any.
    pub fn load(&self, tenant: &str, kind: &str) -> Option<String> {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).cursor(tenant, kind).map(str::to_string)
    }

    /// Saves the cursor; returns once it is durable. An error names the journal.
    pub async fn save(&self, tenant: &str, kind: &str, cursor: &str) -> io::Result<()> {
        let entry = Entry::Cursor { tenant: tenant.into(), stream: kind.into(), cursor: cursor.into() };
        let bytes = line(&entry);
        self.committer.commit((entry, bytes)).await
    }

    /// The tenant's health, if recorded.
    pub fn load_health(&self, tenant: &str) -> Option<Health> {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).health(tenant).cloned()
    }

    /// Saves the tenant's health.
    pub async fn save_health(&self, tenant: &str, health: &Health) -> io::Result<()> {
        let entry = Entry::Health { tenant: tenant.into(), health: health.clone() };
        let bytes = line(&entry);
        self.committer.commit((entry, bytes)).await
    }

    /// Forgets `tenant`'s cursors (one stream's, or all), durably: its next poll starts from `backfill`.
    pub fn reset_blocking(&self, tenant: &str, stream: Option<&str>) -> io::Result<()> {
        let entry = Entry::Reset { tenant: tenant.into(), stream: stream.map(str::to_string) };
        let bytes = line(&entry);
        self.committer.commit_blocking((entry, bytes))
    }
}

/// Takes the state directory `dir` for this process: creates it, proves it writable, and holds an
/// exclusive lock on `<dir>/.lock` until the returned file is dropped. Two hosts on one state
/// directory would each write every record; a state directory that cannot be written would
/// re-emit every page on every poll. Both are refused before any record is written.
pub fn lock(dir: &Path) -> Result<std::fs::File, String> {
    let path = dir.join(".lock");
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("state_dir {}: {what}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot be created", &e))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| fail("is not writable", &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another connector-host is already running with state_dir {} (it holds {}); stop it first: two hosts on one state directory would write every record twice",
            dir.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(fail("cannot be locked", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn saves_are_replayed_when_the_directory_is_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load("t", "incidents"), None);
        store.save("t", "incidents", "one").await.unwrap();
        store.save("t", "incidents", "two").await.unwrap();
        store.save("t", "alerts", "a").await.unwrap();
        let h = Health { consecutive_failures: 3, ..Health::default() };
        store.save_health("t", &h).await.unwrap();
        assert_eq!(store.load("t", "incidents").as_deref(), Some("two"));
        drop(store);
        let again = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(again.load("t", "incidents").as_deref(), Some("two"));
        assert_eq!(again.load("t", "alerts").as_deref(), Some("a"));
        assert_eq!(again.load_health("t"), Some(h.clone()));
        let view = StateView::read(dir.path()).unwrap();
        assert_eq!(view.cursor("t", "incidents"), Some("two"));
        assert_eq!(view.health("t"), Some(&h));
        again.reset_blocking("t", Some("alerts")).unwrap();
        assert_eq!(again.load("t", "alerts"), None);
        assert_eq!(again.load("t", "incidents").as_deref(), Some("two"));
        again.reset_blocking("t", None).unwrap();
        drop(again);
        let view = StateView::read(dir.path()).unwrap();
        assert_eq!((view.cursor("t", "incidents"), view.cursor("t", "alerts")), (None, None));
        assert_eq!(view.health("t"), Some(&h), "a reset keeps the health history");
    }

    #[tokio::test]
    async fn a_tail_cut_off_by_a_crash_is_dropped_and_a_damaged_middle_stops() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.save("t", "incidents", "confirmed").await.unwrap();
        drop(store);
        let path = dir.path().join(JOURNAL);
        let good = std::fs::read(&path).unwrap();
        // A half-written line, then zeros where a block was allocated but never written.
        let mut torn = good.clone();
        torn.extend_from_slice(b"{\"op\":\"cursor\",\"tenant\":\"t\",\"str");
        torn.extend_from_slice(&[0u8; 100]);
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(StateView::read(dir.path()).unwrap().cursor("t", "incidents"), Some("confirmed"));
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load("t", "incidents").as_deref(), Some("confirmed"));
        assert_eq!(std::fs::read(&path).unwrap(), good, "the unconfirmed tail is cut off");
        store.save("t", "incidents", "next").await.unwrap();
        drop(store);
        assert_eq!(StateView::read(dir.path()).unwrap().cursor("t", "incidents"), Some("next"));

        let mut damaged =
            b"{\"op\":\"cursor\",\"tenant\":\"t\",\"stream\":\"incidents\",\"cursor\":\"x\"}\ngarbage\n".to_vec();
        damaged.extend_from_slice(&good);
        std::fs::write(&path, &damaged).unwrap();
        let e = CheckpointStore::open(dir.path()).err().unwrap().to_string();
        assert_eq!(
            e,
            format!(
                "{}: line 2 is damaged (expected value at line 1 column 1) and later lines are not, so this is not a crash's cut-off write (a line of a newer connector-host version?); fix or remove that line, or move the file away to start every tenant from its backfill (records may be emitted again)",
                path.display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), damaged, "a damaged journal is left as it is");

        // Zeros (a block never written) followed by whole-looking lines: all unacknowledged, cut.
        let mut zeros = good.clone();
        zeros.extend_from_slice(&[0u8; 64]);
        zeros.push(b'\n');
        zeros.extend_from_slice(
            b"{\"op\":\"cursor\",\"tenant\":\"t\",\"stream\":\"incidents\",\"cursor\":\"never-acknowledged\"}\n",
        );
        std::fs::write(&path, &zeros).unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load("t", "incidents").as_deref(), Some("confirmed"));
        drop(store);
        assert_eq!(std::fs::read(&path).unwrap(), good);

        // Not a regular file: refused, not read (a FIFO would block).
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let e = StateView::read(dir.path()).unwrap_err().to_string();
        assert_eq!(e, format!("{}: is not a regular file; move it away", path.display()));
    }

    #[tokio::test]
    async fn state_files_of_earlier_versions_are_moved_into_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("old")).unwrap();
        std::fs::write(dir.path().join("old/incidents.cursor"), "{\"watermark\":\"w\"}").unwrap();
        std::fs::write(dir.path().join("old/health.json"), "{\"consecutive_failures\":2}").unwrap();
        assert_eq!(StateView::read(dir.path()).unwrap().cursor("old", "incidents"), Some("{\"watermark\":\"w\"}"));
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load("old", "incidents").as_deref(), Some("{\"watermark\":\"w\"}"));
        assert_eq!(store.load_health("old").unwrap().consecutive_failures, 2);
        assert!(!dir.path().join("old").exists(), "the old files are removed once imported");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(JOURNAL)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the journal is the owner's only");
        }
        store.reset_blocking("old", None).unwrap();
        drop(store);
        assert_eq!(CheckpointStore::open(dir.path()).unwrap().load("old", "incidents"), None, "a reset stays reset");

        // A file older than the journal for state the journal holds is kept aside, not imported;
        // files that are not state are left alone.
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.save("kept", "alerts", "journal").await.unwrap();
        drop(store);
        std::fs::create_dir_all(dir.path().join("kept")).unwrap();
        std::fs::write(dir.path().join("kept/alerts.cursor"), "older").unwrap();
        std::fs::write(dir.path().join("kept/notes.cursor"), "an operator's file").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("kept/alerts.cursor"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(store.load("kept", "alerts").as_deref(), Some("journal"));
        assert_eq!(std::fs::read_to_string(dir.path().join("kept/alerts.cursor.superseded")).unwrap(), "older");
        assert_eq!(std::fs::read_to_string(dir.path().join("kept/notes.cursor")).unwrap(), "an operator's file");
        assert_eq!(store.load("kept", "notes"), None);
    }

    #[tokio::test]
    async fn a_journal_of_mostly_superseded_lines_is_rewritten_compactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let cursor = "c".repeat(1000);
        // About 10 MiB of saves of two keys: more than the minimum size, almost all superseded.
        for i in 0..10_000 {
            store.save("t", if i % 2 == 0 { "incidents" } else { "alerts" }, &format!("{cursor}{i}")).await.unwrap();
        }
        let len = std::fs::metadata(dir.path().join(JOURNAL)).unwrap().len();
        assert!(len < COMPACT_MIN_BYTES, "compacted: {len} bytes");
        drop(store);
        let view = StateView::read(dir.path()).unwrap();
        assert_eq!(view.cursor("t", "incidents"), Some(format!("{cursor}9998").as_str()));
        assert_eq!(view.cursor("t", "alerts"), Some(format!("{cursor}9999").as_str()));
    }

    #[test]
    fn one_process_at_a_time_holds_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let held = lock(&state).unwrap();
        let e = lock(&state).unwrap_err();
        assert!(e.starts_with("another connector-host is already running with state_dir "), "{e}");
        drop(held);
        assert!(lock(&state).is_ok(), "released with the file");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let e = lock(&file.join("state")).unwrap_err();
        assert!(e.contains("cannot be created"), "{e}");
    }
}
