//! The customer's "Test" button: sign in, compare granted permissions with what the connector
//! needs, then read one record of each kind; every failure is a sentence the customer acts on.

use crate::poll::scrub;
use crate::runtime::{LoadedConnector, PreparedTenant, Runtime};

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, or what to fix.
    pub detail: String,
}

/// The checklist for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// Checks in order.
    pub checks: Vec<Check>,
}

impl TestReport {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

fn check(name: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check { name: name.into(), ok, detail: detail.into() }
}

/// Runs the connection test for one tenant: the connector's own checklist (sign-in, consent,
/// one probe per feature), in a sandbox with the tenant's limits and egress policy.
pub async fn run(runtime: &Runtime, _connector: &LoadedConnector, tenant: &PreparedTenant) -> TestReport {
    let mut session = match runtime.session(tenant).await {
        Ok(s) => s,
        Err(e) => return TestReport { checks: vec![check("Sandbox", false, e.to_string())] },
    };
    match session.test_connection().await {
        Ok(list) => TestReport {
            checks: list
                .into_iter()
                .map(|c| check(&scrub(&tenant.redactor, &c.feature), c.ok, scrub(&tenant.redactor, &c.detail)))
                .collect(),
        },
        Err(e) => TestReport { checks: vec![check("Connection test", false, e.to_string())] },
    }
}

/// The checklist as text, one check per line.
pub fn render(tenant: &str, connector: &LoadedConnector, report: &TestReport) -> String {
    let mut out =
        format!("Connection test for tenant `{tenant}` ({} {})\n", connector.info.name, connector.info.version);
    for c in &report.checks {
        out.push_str(&format!("  [{}] {}: {}\n", if c.ok { " ok " } else { "FAIL" }, c.name, c.detail));
    }
    let failed = report.checks.iter().filter(|c| !c.ok).count();
    out.push_str(&if failed == 0 {
        "Result: PASS\n".to_string()
    } else {
        format!("Result: FAIL ({failed} problem(s))\n")
    });
    out
}
