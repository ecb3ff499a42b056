//! When to look for new connector versions and config changes: a debounced watch of the
//! components directory, and SIGHUP (the explicit "reload now").

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a burst of file events (a copy in progress) is gathered before one reload.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Watches `dir` and wakes `reload` once per burst of changes; keep the returned watcher alive.
pub fn watch(dir: &Path, reload: Arc<Notify>) -> Result<Debouncer<RecommendedWatcher>, String> {
    let mut debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| match events {
        Ok(_) => reload.notify_one(),
        Err(e) => tracing::warn!(error = %e, "watching the components directory failed"),
    })
    .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    debouncer
        .watcher()
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    Ok(debouncer)
}

/// Wakes `reload` on every SIGHUP.
pub fn on_sighup(reload: Arc<Notify>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot install the SIGHUP handler; reloads come only from the directory watch");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading connector versions and the config");
            reload.notify_one();
        }
    });
}
