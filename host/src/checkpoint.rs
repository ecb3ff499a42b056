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

    /// The stored cursor, if any.
    pub fn load(&self, tenant: &str, kind: &str) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(self.path(tenant, kind)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the cursor atomically and durably.
    pub fn save(&self, tenant: &str, kind: &str, cursor: &str) -> std::io::Result<()> {
        write_atomic(&self.path(tenant, kind), cursor.as_bytes())
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
}
