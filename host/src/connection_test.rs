//! The customer's "Test" button: sign in, compare granted permissions with what the connector
//! needs, then read one record of each kind; every failure is a sentence the customer acts on.

use crate::bindings::FetchRequest;
use crate::poll::{explain, redact_error};
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

/// Runs the connection test for one tenant.
pub async fn run(runtime: &Runtime, connector: &LoadedConnector, tenant: &PreparedTenant) -> TestReport {
    let mut checks = Vec::new();
    let mut session = match runtime.session(tenant).await {
        Ok(s) => s,
        Err(e) => {
            checks.push(check("Sandbox", false, e.to_string()));
            return TestReport { checks };
        }
    };
    let auth = match session.authenticate().await {
        Ok(Ok(auth)) => auth,
        Ok(Err(e)) => {
            checks.push(check("Sign in", false, explain(&redact_error(e, &tenant.redactor))));
            return TestReport { checks };
        }
        Err(e) => {
            checks.push(check("Sign in", false, e.to_string()));
            return TestReport { checks };
        }
    };
    checks.push(check("Sign in", true, format!("token issued, valid for {} s", auth.expires_in_seconds)));
    // Only permissions of the API this token is for can be seen in it.
    let graph: Vec<_> = connector.info.permissions.iter().filter(|p| p.api == "Microsoft Graph").collect();
    let missing: Vec<_> = graph.iter().filter(|p| !auth.roles.contains(&p.name)).collect();
    if auth.roles.is_empty() {
        checks.push(check("Permissions", false,
            "the token carries no application permissions: admin consent has not been granted. In the app registration, open API permissions and click \"Grant admin consent\"."));
    } else if missing.is_empty() {
        checks.push(check("Permissions", true, format!("granted: {}", auth.roles.join(", "))));
    } else {
        let list: Vec<String> = missing.iter().map(|p| format!("{} (to {})", p.name, p.reason)).collect();
        checks.push(check(
            "Permissions",
            false,
            format!(
                "missing Microsoft Graph application permission(s): {}; add them and grant admin consent",
                list.join("; ")
            ),
        ));
    }
    let probe = FetchRequest { cursor: None, page_size: Some(1), attempt: 0 };
    match session.fetch_incidents(&probe).await {
        Ok(Ok(page)) => checks.push(check(
            "Read incidents",
            true,
            format!("{} incident(s) in the first page of the backfill window", page.incidents.len()),
        )),
        Ok(Err(e)) => checks.push(check("Read incidents", false, explain(&redact_error(e, &tenant.redactor)))),
        Err(e) => checks.push(check("Read incidents", false, e.to_string())),
    }
    match session.fetch_alerts(&probe).await {
        Ok(Ok(page)) => checks.push(check(
            "Read alerts",
            true,
            format!("{} alert(s) in the first page of the backfill window", page.alerts.len()),
        )),
        Ok(Err(e)) => checks.push(check("Read alerts", false, explain(&redact_error(e, &tenant.redactor)))),
        Err(e) => checks.push(check("Read alerts", false, e.to_string())),
    }
    TestReport { checks }
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
