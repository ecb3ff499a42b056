//! Which connector version each tenant runs: the versions loaded (by digest), the stable one, a
//! candidate on canary tenants until it proves itself, pins from the config, and per-tenant
//! rollback when a new version fails a tenant's poll in a way the previous one did not.
//!
//! One writer (the host's reload and report path) behind a lock; a poll takes an `Arc` of its
//! version when it starts, so a swap never touches a poll in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// What the registry needs to know of a loaded connector.
pub trait Versioned {
    /// `sha256:<hex>`: identity.
    fn digest(&self) -> &str;
    /// The version it reports in `describe`.
    fn version(&self) -> &str;
}

impl Versioned for crate::runtime::LoadedConnector {
    fn digest(&self) -> &str {
        &self.digest
    }
    fn version(&self) -> &str {
        &self.info.version
    }
}

/// How new versions reach tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutPolicy {
    /// Tenants that get a new version first; the others get it once these have polled with it
    /// without a regression. Empty: every tenant gets a new version at once.
    #[serde(default)]
    pub canary: Vec<String>,
    /// Successful canary polls needed before a new version goes to everyone (default: one per canary tenant).
    #[serde(default)]
    pub canary_polls: Option<usize>,
}

/// How a tenant's poll ended, as far as rollout cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No error.
    Ok,
    /// A failure that points at the connector itself (trap, limit, invalid response): `kind`.
    Regression(String),
    /// A failure of the tenant or the service (auth, throttling, network): says nothing about the version.
    Other,
}

/// Something the registry decided, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new version is now stable for every tenant.
    Promoted { version: String, digest: String },
    /// A new version went to the canary tenants.
    Canary { version: String, digest: String, tenants: Vec<String> },
    /// A canary failed: the version is withdrawn, everyone stays on the stable one.
    Withdrawn { version: String, digest: String, tenant: String, kind: String },
    /// One tenant went back to the previous version.
    RolledBack { tenant: String, from: String, to: String, kind: String },
    /// The version was already loaded.
    Known { digest: String },
}

/// What the rollout must remember across restarts: the version that served everyone, and the
/// versions that must not come back (a withdrawn canary, a version that failed a tenant).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RolloutMemory {
    /// Digest of the stable version.
    pub stable: Option<String>,
    /// Digests never offered again (delete a line here to retry one deliberately).
    pub refused: BTreeSet<String>,
    /// tenant → digest it must not run.
    pub rolled_back: BTreeMap<String, String>,
}

struct State<C> {
    versions: Vec<Arc<C>>,
    stable: Arc<C>,
    previous: Option<Arc<C>>,
    candidate: Option<(Arc<C>, usize)>,
    withdrawn: BTreeSet<String>,
    /// tenant → (digest it must not run, what it runs instead)
    rolled_back: BTreeMap<String, (String, Arc<C>)>,
    /// (tenant, digest) → whether the tenant's latest poll on that digest regressed
    regressed: BTreeMap<(String, String), bool>,
    generation: u64,
    /// The stable digest before a restart: when its file is offered again it goes to everyone at once.
    restored_stable: Option<String>,
}

/// The connector versions of a running host.
pub struct ConnectorRegistry<C> {
    policy: RolloutPolicy,
    state: Mutex<State<C>>,
}

impl<C: Versioned> ConnectorRegistry<C> {
    /// A registry whose first (stable) version is `initial`.
    pub fn new(initial: Arc<C>, policy: RolloutPolicy) -> Self {
        let state = State {
            versions: vec![initial.clone()],
            stable: initial,
            previous: None,
            candidate: None,
            withdrawn: BTreeSet::new(),
            rolled_back: BTreeMap::new(),
            regressed: BTreeMap::new(),
            generation: 0,
            restored_stable: None,
        };
        ConnectorRegistry { policy, state: Mutex::new(state) }
    }

    /// Counts changes; a poll can compare it before and after to see that a swap happened meanwhile.
    pub fn generation(&self) -> u64 {
        self.state.lock().unwrap().generation
    }

    /// The version every non-canary tenant runs.
    pub fn stable(&self) -> Arc<C> {
        self.state.lock().unwrap().stable.clone()
    }

    /// Every version loaded, oldest first.
    pub fn versions(&self) -> Vec<Arc<C>> {
        self.state.lock().unwrap().versions.clone()
    }

    /// What to keep across a restart.
    pub fn memory(&self) -> RolloutMemory {
        let s = self.state.lock().unwrap();
        RolloutMemory {
            stable: Some(s.stable.digest().to_string()),
            refused: s.withdrawn.clone(),
            rolled_back: s.rolled_back.iter().map(|(t, (d, _))| (t.clone(), d.clone())).collect(),
        }
    }

    /// Picks up what a previous run remembered: refused versions stay refused, rolled-back tenants
    /// stay off their bad version (running the initial one instead), and the previous stable
    /// version goes to everyone as soon as its file is offered.
    pub fn restore(&self, memory: RolloutMemory) {
        let mut s = self.state.lock().unwrap();
        let initial = s.versions[0].clone();
        s.withdrawn.extend(memory.refused);
        for (tenant, digest) in memory.rolled_back {
            s.rolled_back.insert(tenant, (digest, initial.clone()));
        }
        s.restored_stable = memory.stable.filter(|d| d != initial.digest());
    }

    /// A validated new version: to the canary tenants first, or to everyone if there are none.
    /// A withdrawn version, or one that failed a tenant, is not taken back.
    pub fn offer(&self, new: Arc<C>) -> Event {
        let mut s = self.state.lock().unwrap();
        let (version, digest) = (new.version().to_string(), new.digest().to_string());
        if s.stable.digest() == digest
            || s.candidate.as_ref().is_some_and(|(c, _)| c.digest() == digest)
            || s.withdrawn.contains(&digest)
            || s.rolled_back.values().any(|(bad, _)| *bad == digest)
        {
            return Event::Known { digest };
        }
        if !s.versions.iter().any(|v| v.digest() == digest) {
            s.versions.push(new.clone());
        }
        s.generation += 1;
        let restored = s.restored_stable.as_deref() == Some(digest.as_str());
        if self.policy.canary.is_empty() || restored {
            s.previous = Some(std::mem::replace(&mut s.stable, new));
            s.candidate = None;
            Event::Promoted { version, digest }
        } else {
            s.candidate = Some((new, 0));
            Event::Canary { version, digest, tenants: self.policy.canary.clone() }
        }
    }

    /// The version `tenant` runs next: its pin (a version string or a digest prefix), else its
    /// rollback, else the candidate for a canary tenant, else the stable version.
    pub fn resolve(&self, tenant: &str, pin: Option<&str>) -> Result<Arc<C>, String> {
        let s = self.state.lock().unwrap();
        if let Some(pin) = pin {
            let loaded = || -> String {
                s.versions
                    .iter()
                    .map(|v| format!("{} ({})", v.version(), &v.digest()[..19]))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let matches: Vec<&Arc<C>> = s
                .versions
                .iter()
                .filter(|v| v.version() == pin || v.digest().starts_with(pin) || v.digest()[7..].starts_with(pin))
                .collect();
            return match matches.as_slice() {
                [one] => Ok((*one).clone()),
                [] => Err(format!("pinned to `{pin}`, which is not loaded; loaded: {}", loaded())),
                _ => Err(format!(
                    "pin `{pin}` matches {} loaded builds; pin by a longer digest prefix; loaded: {}",
                    matches.len(),
                    loaded()
                )),
            };
        }
        let choice = match (&s.candidate, self.policy.canary.iter().any(|c| c == tenant)) {
            (Some((c, _)), true) => c.clone(),
            _ => s.stable.clone(),
        };
        match s.rolled_back.get(tenant) {
            Some((bad, instead)) if bad == choice.digest() => Ok(instead.clone()),
            _ => Ok(choice),
        }
    }

    /// Folds in how `tenant`'s poll on `digest` ended; returns what was decided.
    pub fn report(&self, tenant: &str, digest: &str, outcome: &Outcome) -> Option<Event> {
        let mut s = self.state.lock().unwrap();
        let regressed = matches!(outcome, Outcome::Regression(_));
        if !matches!(outcome, Outcome::Other) {
            s.regressed.insert((tenant.to_string(), digest.to_string()), regressed);
        }
        let kind = match outcome {
            Outcome::Regression(k) => k.clone(),
            _ => String::new(),
        };
        // A canary's verdict.
        if let Some((c, successes)) = s.candidate.as_mut()
            && c.digest() == digest
        {
            let (version, digest) = (c.version().to_string(), c.digest().to_string());
            if regressed {
                s.candidate = None;
                s.withdrawn.insert(digest.clone());
                s.generation += 1;
                return Some(Event::Withdrawn { version, digest, tenant: tenant.to_string(), kind });
            }
            if *outcome == Outcome::Ok {
                *successes += 1;
                let needed = self.policy.canary_polls.unwrap_or(self.policy.canary.len()).max(1);
                if *successes >= needed {
                    let (c, _) = s.candidate.take().expect("checked above");
                    s.previous = Some(std::mem::replace(&mut s.stable, c));
                    s.generation += 1;
                    return Some(Event::Promoted { version, digest });
                }
            }
            return None;
        }
        // A stable version that fails a tenant where the previous one did not: back to the previous.
        if regressed && s.stable.digest() == digest {
            let previous = s.previous.clone()?;
            let before = s.regressed.get(&(tenant.to_string(), previous.digest().to_string())).copied();
            if before == Some(true) {
                return None; // the previous version failed this tenant too: the new one is no worse
            }
            s.rolled_back.insert(tenant.to_string(), (digest.to_string(), previous.clone()));
            s.generation += 1;
            return Some(Event::RolledBack {
                tenant: tenant.to_string(),
                from: format!("{} ({})", s.stable.version(), &digest[..19.min(digest.len())]),
                to: format!("{} ({})", previous.version(), &previous.digest()[..19]),
                kind,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fake(String, String);
    impl Versioned for Fake {
        fn digest(&self) -> &str {
            &self.0
        }
        fn version(&self) -> &str {
            &self.1
        }
    }
    fn v(n: u8) -> Arc<Fake> {
        Arc::new(Fake(format!("sha256:{}", format!("{n:x}").repeat(64)), format!("0.{n}.0")))
    }
    fn versions(r: &ConnectorRegistry<Fake>, tenants: &[&str]) -> Vec<String> {
        tenants.iter().map(|t| r.resolve(t, None).unwrap().1.clone()).collect()
    }

    #[test]
    fn without_canaries_a_new_version_goes_to_everyone_and_a_known_one_is_ignored() {
        let r = ConnectorRegistry::new(v(1), RolloutPolicy::default());
        assert!(matches!(r.offer(v(2)), Event::Promoted { .. }));
        assert_eq!(versions(&r, &["a", "b"]), ["0.2.0", "0.2.0"]);
        assert!(matches!(r.offer(v(2)), Event::Known { .. }));
        assert_eq!(r.generation(), 1);
    }

    #[test]
    fn canaries_go_first_and_the_rest_follow_after_clean_polls() {
        let policy = RolloutPolicy { canary: vec!["c1".into(), "c2".into()], canary_polls: None };
        let r = ConnectorRegistry::new(v(1), policy);
        assert!(matches!(r.offer(v(2)), Event::Canary { .. }));
        assert_eq!(versions(&r, &["c1", "c2", "x"]), ["0.2.0", "0.2.0", "0.1.0"]);
        let d2 = v(2).0.clone();
        assert_eq!(r.report("c1", &d2, &Outcome::Ok), None);
        assert_eq!(r.report("c2", &d2, &Outcome::Other), None, "a service failure proves nothing");
        assert_eq!(versions(&r, &["x"]), ["0.1.0"]);
        assert!(matches!(r.report("c2", &d2, &Outcome::Ok), Some(Event::Promoted { .. })));
        assert_eq!(versions(&r, &["c1", "c2", "x"]), ["0.2.0", "0.2.0", "0.2.0"]);
    }

    #[test]
    fn a_canary_regression_withdraws_the_version_for_good() {
        let r = ConnectorRegistry::new(v(1), RolloutPolicy { canary: vec!["c".into()], canary_polls: None });
        r.offer(v(3));
        let d3 = v(3).0.clone();
        let e = r.report("c", &d3, &Outcome::Regression("trap".into()));
        assert!(matches!(e, Some(Event::Withdrawn { ref kind, .. }) if kind == "trap"), "{e:?}");
        assert_eq!(versions(&r, &["c", "x"]), ["0.1.0", "0.1.0"]);
        assert!(matches!(r.offer(v(3)), Event::Known { .. }), "not offered again");
    }

    #[test]
    fn a_tenant_the_new_version_fails_goes_back_unless_the_old_one_failed_it_too() {
        let r = ConnectorRegistry::new(v(1), RolloutPolicy::default());
        let (d1, d2) = (v(1).0.clone(), v(2).0.clone());
        r.report("a", &d1, &Outcome::Ok);
        r.report("b", &d1, &Outcome::Regression("invalid-response".into()));
        r.offer(v(2));
        let e = r.report("a", &d2, &Outcome::Regression("trap".into()));
        assert!(matches!(e, Some(Event::RolledBack { ref tenant, .. }) if tenant == "a"), "{e:?}");
        assert_eq!(r.report("b", &d2, &Outcome::Regression("invalid-response".into())), None);
        assert_eq!(versions(&r, &["a", "b", "c"]), ["0.1.0", "0.2.0", "0.2.0"]);
        // A fixed version 3 reaches the rolled-back tenant again.
        r.offer(v(3));
        assert_eq!(versions(&r, &["a"]), ["0.3.0"]);
    }

    #[test]
    fn a_restart_remembers_refusals_rollbacks_and_the_stable_version() {
        let canary = RolloutPolicy { canary: vec!["c".into()], canary_polls: None };
        let r = ConnectorRegistry::new(v(1), canary.clone());
        let (d1, d2, d3) = (v(1).0.clone(), v(2).0.clone(), v(3).0.clone());
        r.offer(v(2));
        r.report("c", &d2, &Outcome::Ok); // promoted
        r.report("a", &d2, &Outcome::Ok);
        r.offer(v(3));
        r.report("c", &d3, &Outcome::Regression("trap".into())); // withdrawn
        let memory = r.memory();
        assert_eq!(memory.stable.as_deref(), Some(d2.as_str()));
        assert!(memory.refused.contains(&d3));
        // The next process starts on version 1 and finds 2 and 3 in the components folder again.
        let again = ConnectorRegistry::new(v(1), canary);
        again.restore(memory);
        assert!(matches!(again.offer(v(3)), Event::Known { .. }), "a withdrawn version stays refused");
        assert!(matches!(again.offer(v(2)), Event::Promoted { .. }), "the stable one goes to everyone at once");
        assert_eq!(versions(&again, &["c", "x"]), ["0.2.0", "0.2.0"]);
        let _ = d1;
    }

    #[test]
    fn a_version_that_failed_a_tenant_is_not_taken_back() {
        let r = ConnectorRegistry::new(v(1), RolloutPolicy::default());
        let (d1, d2) = (v(1).0.clone(), v(2).0.clone());
        r.report("a", &d1, &Outcome::Ok);
        r.offer(v(2));
        assert!(matches!(r.report("a", &d2, &Outcome::Regression("trap".into())), Some(Event::RolledBack { .. })));
        r.offer(v(3));
        assert!(matches!(r.offer(v(2)), Event::Known { .. }), "re-copying the bad file does not bring it back");
        assert_eq!(versions(&r, &["a", "b"]), ["0.3.0", "0.3.0"]);
    }

    #[test]
    fn pins_name_a_version_or_a_digest_prefix() {
        let r = ConnectorRegistry::new(v(1), RolloutPolicy::default());
        r.offer(v(2));
        assert_eq!(r.resolve("a", Some("0.1.0")).unwrap().1, "0.1.0");
        assert_eq!(r.resolve("a", Some("sha256:2222")).unwrap().1, "0.2.0");
        assert_eq!(r.resolve("a", Some("1111")).unwrap().1, "0.1.0");
        let e = r.resolve("a", Some("9.9.9")).unwrap_err();
        assert!(e.starts_with("pinned to `9.9.9`, which is not loaded; loaded: 0.1.0 (sha256:111111111111)"), "{e}");
    }
}
