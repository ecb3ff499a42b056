//! Group commit: one thread per durable file appends every write queued since its last sync,
//! makes them all durable with one sync, then answers each writer. Tenants finishing pages at the
//! same moment share one `fdatasync` instead of queueing for one each: with thousands of tenants
//! on two cores, per-write syncs (and the temporary files of per-tenant state) were most of a cycle.
//!
//! A failed write or sync poisons the file for the rest of the process: after a failed fsync
//! Linux may drop the dirty pages and report the next fsync as a success, so nothing written
//! after it can be promised durable. Writers get the error; what they wrote is fetched again
//! after a restart, because no cursor covering it was confirmed.

use std::io;
use std::sync::mpsc;

/// A file (or stream) the committer thread owns.
pub trait Log: Send + 'static {
    /// What one writer hands in.
    type Entry: Send + 'static;
    /// Appends `entry` (not yet durable).
    fn append(&mut self, entry: &Self::Entry) -> io::Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Runs after `entries` were made durable, before their writers are answered.
    fn committed(&mut self, entries: Vec<Self::Entry>) {
        drop(entries);
    }
    /// The file's name, for errors.
    fn name(&self) -> String;
}

struct Request<E> {
    entry: E,
    done: Done,
}

/// Where a writer waits for its answer.
enum Done {
    Async(tokio::sync::oneshot::Sender<io::Result<()>>),
    /// A plain channel: also usable from inside an async runtime (at startup), where blocking on
    /// a oneshot would panic.
    Blocking(mpsc::SyncSender<io::Result<()>>),
}

impl Done {
    fn send(self, result: io::Result<()>) {
        let _ = match self {
            Done::Async(tx) => tx.send(result).map_err(drop),
            Done::Blocking(tx) => tx.send(result).map_err(drop),
        };
    }
}

/// Hands entries to the committer thread of one [`Log`].
pub struct Committer<E> {
    tx: mpsc::Sender<Request<E>>,
    name: String,
    /// Why the file takes no more writes, once a write or sync failed.
    poisoned: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

/// Largest number of writes folded into one sync (keeps a writer's wait bounded).
const MAX_BATCH: usize = 4096;

impl<E: Send + 'static> Committer<E> {
    /// Starts the thread that owns `log`; it ends when the committer is dropped and the queue is empty.
    pub fn start<L: Log<Entry = E>>(log: L) -> io::Result<Committer<E>> {
        let name = log.name();
        let (tx, rx) = mpsc::channel::<Request<E>>();
        let poisoned = std::sync::Arc::new(std::sync::Mutex::new(None));
        let flag = poisoned.clone();
        std::thread::Builder::new().name("group-commit".into()).spawn(move || run(log, rx, flag))?;
        Ok(Committer { tx, name, poisoned })
    }

    /// Why the file takes no more writes, if a write or sync failed.
    pub fn poisoned(&self) -> Option<String> {
        self.poisoned.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Appends `entry` and returns once it is durable (or why it is not).
    pub async fn commit(&self, entry: E) -> io::Result<()> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.tx.send(Request { entry, done: Done::Async(done) }).map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    /// [`Committer::commit`] for code outside an async runtime.
    pub fn commit_blocking(&self, entry: E) -> io::Result<()> {
        let (done, answer) = mpsc::sync_channel(1);
        self.tx.send(Request { entry, done: Done::Blocking(done) }).map_err(|_| self.stopped())?;
        answer.recv().map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> io::Error {
        io::Error::other(format!("the writer of {} stopped", self.name))
    }
}

fn run<L: Log>(
    mut log: L,
    rx: mpsc::Receiver<Request<L::Entry>>,
    flag: std::sync::Arc<std::sync::Mutex<Option<String>>>,
) {
    let mut poisoned: Option<(io::ErrorKind, String)> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if poisoned.is_none() {
            let mut result = batch.iter().try_for_each(|r| log.append(&r.entry));
            if result.is_ok() {
                result = log.sync();
            }
            match result {
                Ok(()) => {
                    let (entries, dones): (Vec<_>, Vec<_>) = batch.into_iter().map(|r| (r.entry, r.done)).unzip();
                    log.committed(entries);
                    for done in dones {
                        done.send(Ok(()));
                    }
                    continue;
                }
                Err(e) => {
                    let message = format!(
                        "writing {} failed ({e}); nothing more is written to it until the host restarts (what was not confirmed is fetched again then)",
                        log.name()
                    );
                    tracing::error!(file = %log.name(), error = %e, "a durable write failed; the file takes no more writes");
                    *flag.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.clone());
                    poisoned = Some((e.kind(), message));
                }
            }
        }
        let (kind, message) = poisoned.as_ref().expect("set above");
        for r in batch {
            r.done.send(Err(io::Error::new(*kind, message.clone())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records what happened, and fails the sync when told to.
    struct Probe {
        events: Arc<Mutex<Vec<String>>>,
        fail_sync: bool,
    }

    impl Log for Probe {
        type Entry = u32;
        fn append(&mut self, entry: &u32) -> io::Result<()> {
            self.events.lock().unwrap().push(format!("append {entry}"));
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            self.events.lock().unwrap().push("sync".into());
            if self.fail_sync { Err(io::Error::other("disk on fire")) } else { Ok(()) }
        }
        fn committed(&mut self, entries: Vec<u32>) {
            self.events.lock().unwrap().push(format!("committed {entries:?}"));
        }
        fn name(&self) -> String {
            "probe".into()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_write_is_answered_after_a_sync_that_covers_it() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let c = Arc::new(Committer::start(Probe { events: events.clone(), fail_sync: false }).unwrap());
        let writers: Vec<_> = (0..50u32)
            .map(|i| {
                tokio::spawn({
                    let c = c.clone();
                    async move { c.commit(i).await }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        let events = events.lock().unwrap().clone();
        let appended: Vec<_> = events.iter().filter(|e| e.starts_with("append")).collect();
        assert_eq!(appended.len(), 50);
        // Each append is followed, before its batch is committed, by a sync.
        let mut pending = 0;
        for e in &events {
            match e.as_str() {
                "sync" => pending = 0,
                e if e.starts_with("append") => pending += 1,
                e => assert_eq!(pending, 0, "{e} before its sync"),
            }
        }
        assert_eq!(pending, 0);
    }

    #[test]
    fn a_failed_sync_fails_its_writers_and_every_later_one() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let c = Committer::start(Probe { events: events.clone(), fail_sync: true }).unwrap();
        let e = c.commit_blocking(1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "writing probe failed (disk on fire); nothing more is written to it until the host restarts (what was not confirmed is fetched again then)"
        );
        let again = c.commit_blocking(2).unwrap_err();
        assert_eq!(again.to_string(), e.to_string());
        // The second write never reached the file, and nothing was reported committed.
        assert_eq!(*events.lock().unwrap(), vec!["append 1".to_string(), "sync".to_string()]);
    }
}
