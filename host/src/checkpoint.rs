//! Per-tenant cursors in the state directory: one small JSON file per tenant and kind, replaced
//! atomically (write to a temporary file, fsync, rename, fsync the folder).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The state directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    /// Uses (and creates on first save) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CheckpointStore { dir: dir.into() }
    }

    fn path(&self, tenant: &str, kind: &str) -> PathBuf {
        self.dir.join(tenant).join(format!("{kind}.cursor"))
    }

    /// The stored cursor, if any; an error names the file.
    pub fn load(&self, tenant: &str, kind: &str) -> std::io::Result<Option<String>> {
        let path = self.path(tenant, kind);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(at(&path, e)),
        }
    }

    /// Replaces the cursor atomically and durably; an error names the file.
    pub fn save(&self, tenant: &str, kind: &str, cursor: &str) -> std::io::Result<()> {
        let path = self.path(tenant, kind);
        write_atomic(&path, cursor.as_bytes()).map_err(|e| at(&path, e))
    }

    /// Takes the state directory for this process: creates it, proves it writable, and holds an
    /// exclusive lock on `<dir>/.lock` until the returned file is dropped. Two hosts on one state
    /// directory would each write every record; a state directory that cannot be written would
    /// re-emit every page on every poll. Both are refused before any record is written.
    pub fn lock(&self) -> Result<std::fs::File, String> {
        let path = self.dir.join(".lock");
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("state_dir {}: {what}: {e}", self.dir.display());
        std::fs::create_dir_all(&self.dir).map_err(|e| fail("cannot be created", &e))?;
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
                self.dir.display(),
                path.display()
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(fail("cannot be locked", &e)),
        }
    }

    fn health_path(&self, tenant: &str) -> PathBuf {
        self.dir.join(tenant).join("health.json")
    }

    /// The tenant's health, if recorded and readable.
    pub fn load_health(&self, tenant: &str) -> Option<crate::health::Health> {
        let text = std::fs::read_to_string(self.health_path(tenant)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Replaces the tenant's health atomically.
    pub fn save_health(&self, tenant: &str, health: &crate::health::Health) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(health).map_err(std::io::Error::other)?;
        write_atomic(&self.health_path(tenant), &text)
    }
}

fn at(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Writes a temporary file beside `path`, fsyncs it, renames it over `path`, fsyncs the folder.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_replaces_and_load_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        assert_eq!(store.load("t", "incidents").unwrap(), None);
        store.save("t", "incidents", "one").unwrap();
        store.save("t", "incidents", "two").unwrap();
        assert_eq!(store.load("t", "incidents").unwrap().as_deref(), Some("two"));
        assert_eq!(std::fs::read_dir(dir.path().join("t")).unwrap().count(), 1, "no temporary files left");
    }

    #[test]
    fn one_process_at_a_time_holds_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path().join("state"));
        let held = store.lock().unwrap();
        let e = store.lock().unwrap_err();
        assert!(e.starts_with("another connector-host is already running with state_dir "), "{e}");
        drop(held);
        assert!(store.lock().is_ok(), "released with the file");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let e = CheckpointStore::new(file.join("state")).lock().unwrap_err();
        assert!(e.contains("cannot be created"), "{e}");
    }
}
