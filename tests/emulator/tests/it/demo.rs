//! The demo data generator, and serving it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use graph_emulator::demo::{SEVERITIES, client_id, client_secret, generate_tenant, tenant_id, touch_incident};
use graph_emulator::{Emulator, format_graph_time};
use serde_json::{Value, json};

use crate::client::{get, get_url, token_for};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-04T12:00:00.1234567Z").unwrap().with_timezone(&Utc)
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().with_timezone(&Utc)
}

fn fraction_len(v: &Value) -> usize {
    let s = v.as_str().unwrap();
    assert!(s.ends_with('Z'), "{s}");
    s.trim_end_matches('Z')
        .split_once('.')
        .map(|(_, f)| {
            assert!(!f.ends_with('0'), "trailing zero in {s}");
            f.len()
        })
        .unwrap_or(0)
}

#[test]
fn deterministic_and_distinct_per_index() {
    let a = generate_tenant(3, 40, now());
    let b = generate_tenant(3, 40, now());
    assert_eq!(a.incidents, b.incidents);
    assert_eq!(a.alerts, b.alerts);
    assert_eq!((a.tenant_id.as_str(), a.client_id.as_str()), (b.tenant_id.as_str(), b.client_id.as_str()));
    let c = generate_tenant(4, 40, now());
    assert_ne!(a.tenant_id, c.tenant_id);
    assert_ne!(a.client_id, c.client_id);
    assert_ne!(a.incidents, c.incidents);
    assert_eq!(a.client_secret, "demo-secret-3");
    assert_eq!(a.tenant_id, tenant_id(3));
    assert_eq!(a.client_id, client_id(3));
    assert_eq!(client_secret(3), "demo-secret-3");
    assert_eq!(a.roles, ["SecurityIncident.Read.All", "SecurityAlert.Read.All", "ThreatHunting.Read.All"]);
    for id in [&a.tenant_id, &a.client_id] {
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
    }
    assert!(generate_tenant(0, 0, now()).incidents.is_empty());
}

#[test]
fn coverage_of_severities_fractions_statuses_and_evidence() {
    let t = generate_tenant(0, 48, now());
    assert_eq!(t.incidents.len(), 48);

    let severities: BTreeSet<&str> = t.incidents.iter().map(|i| i["severity"].as_str().unwrap()).collect();
    assert_eq!(severities, SEVERITIES.into_iter().collect());

    let lengths: BTreeSet<usize> = t.incidents.iter().map(|i| fraction_len(&i["lastUpdateDateTime"])).collect();
    assert_eq!(lengths, (0..=7).collect());
    let created_lengths: BTreeSet<usize> = t.incidents.iter().map(|i| fraction_len(&i["createdDateTime"])).collect();
    assert_eq!(created_lengths, (0..=7).collect());

    let mut by_update: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &t.incidents {
        *by_update.entry(i["lastUpdateDateTime"].as_str().unwrap()).or_default() += 1;
    }
    assert!(by_update.values().any(|&n| n > 1), "no shared lastUpdateDateTime");

    let statuses: BTreeSet<&str> = t.incidents.iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["active", "awaitingAction", "inProgress", "redirected", "resolved"].into_iter().collect());

    let window_start = now() - Duration::hours(20);
    let ids: BTreeSet<&str> = t.incidents.iter().map(|i| i["id"].as_str().unwrap()).collect();
    for i in &t.incidents {
        let id = i["id"].as_str().unwrap();
        assert!(id.parse::<u64>().is_ok());
        assert_eq!(i["tenantId"], json!(t.tenant_id));
        assert_eq!(
            i["incidentWebUrl"],
            json!(format!("https://security.microsoft.com/incidents/{id}?tid={}", t.tenant_id))
        );
        let (created, updated) = (instant(&i["createdDateTime"]), instant(&i["lastUpdateDateTime"]));
        assert!(window_start <= created && created <= updated && updated <= now(), "{i}");
        for key in [
            "assignedTo",
            "classification",
            "comments",
            "createdDateTime",
            "customTags",
            "description",
            "determination",
            "displayName",
            "incidentWebUrl",
            "lastModifiedBy",
            "lastUpdateDateTime",
            "priorityScore",
            "redirectIncidentId",
            "resolvingComment",
            "severity",
            "status",
            "summary",
            "systemTags",
            "tenantId",
        ] {
            assert!(i.get(key).is_some(), "incident lacks {key}");
        }
        assert!(i.get("alerts").is_none());
        match i["status"].as_str().unwrap() {
            "redirected" => assert!(ids.contains(i["redirectIncidentId"].as_str().unwrap())),
            _ => assert_eq!(i["redirectIncidentId"], Value::Null),
        }
        let pair = (i["classification"].as_str(), i["determination"].as_str());
        let valid = match pair {
            (None, None) | (Some("unknown"), Some("unknown")) => true,
            (Some("truePositive"), Some(d)) => [
                "multiStagedAttack",
                "malware",
                "phishing",
                "compromisedAccount",
                "maliciousUserActivity",
                "unwantedSoftware",
                "other",
            ]
            .contains(&d),
            (Some("falsePositive"), Some(d)) => ["notMalicious", "notEnoughDataToValidate", "other"].contains(&d),
            (Some("informationalExpectedActivity"), Some(d)) => {
                ["securityTesting", "lineOfBusinessApplication", "confirmedActivity", "other"].contains(&d)
            }
            _ => false,
        };
        assert!(valid, "{pair:?}");

        let linked: Vec<&Value> = t.alerts.iter().filter(|a| a["incidentId"] == i["id"]).collect();
        assert!((1..=4).contains(&linked.len()), "{} alerts", linked.len());
        for a in linked {
            let (ac, au) = (instant(&a["createdDateTime"]), instant(&a["lastUpdateDateTime"]));
            assert!(created <= ac && ac <= au && au <= updated, "{a}");
        }
    }

    let mut evidence_types = BTreeSet::new();
    for a in &t.alerts {
        assert!(a["id"].as_str().unwrap().starts_with("da638"));
        assert_eq!(a["id"].as_str().unwrap(), format!("da{}", a["providerAlertId"].as_str().unwrap()));
        assert_eq!(a["categories"], json!([a["category"]]));
        assert!(["new", "inProgress", "resolved"].contains(&a["status"].as_str().unwrap()));
        for technique in a["mitreTechniques"].as_array().unwrap() {
            assert!(technique.as_str().unwrap().starts_with('T'));
        }
        for e in a["evidence"].as_array().unwrap() {
            let ty = e["@odata.type"].as_str().unwrap();
            assert!(ty.starts_with("#microsoft.graph.security."));
            for key in ["createdDateTime", "verdict", "remediationStatus", "roles", "detailedRoles", "tags"] {
                assert!(e.get(key).is_some(), "{ty} lacks {key}");
            }
            evidence_types.insert(ty.trim_start_matches("#microsoft.graph.security.").to_string());
        }
    }
    let expected: BTreeSet<String> = [
        "deviceEvidence",
        "userEvidence",
        "ipEvidence",
        "urlEvidence",
        "fileEvidence",
        "mailboxEvidence",
        "processEvidence",
        "registryKeyEvidence",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(evidence_types, expected);
}

#[tokio::test]
async fn demo_tenant_served_and_touched() {
    let emu = Emulator::start().await.unwrap();
    let tenant = generate_tenant(1, 48, now());
    let tid = tenant.tenant_id.clone();
    emu.add_tenant(tenant.clone());
    let token = token_for(&emu, &tid, &client_id(1), &client_secret(1)).await;

    let mut url = format!("{}/v1.0/security/incidents?$expand=alerts", emu.base_url());
    let mut served = Vec::new();
    loop {
        let body = get_url(&url, &token, &[("Prefer", "include-unknown-enum-members")]).await.json();
        served.extend(body["value"].as_array().unwrap().iter().cloned());
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(served.len(), 48);
    let alert_total: usize = served.iter().map(|i| i["alerts"].as_array().unwrap().len()).sum();
    assert_eq!(alert_total, tenant.alerts.len());

    let oldest = tenant.incidents[0]["id"].as_str().unwrap().to_string();
    let before = emu.incident(&tid, &oldest).unwrap();
    let later = now() + Duration::minutes(5);
    assert!(touch_incident(&emu, &tid, &oldest, later));
    assert!(!touch_incident(&emu, &tid, "nope", later));
    let after = emu.incident(&tid, &oldest).unwrap();
    assert_eq!(after["lastUpdateDateTime"], json!(format_graph_time(later)));
    assert_ne!(after["status"], before["status"]);
    assert_ne!(after["assignedTo"], before["assignedTo"]);

    let first = get(&emu, "/v1.0/security/incidents?$top=1", &token, &[]).await.json();
    assert_eq!(first["value"][0]["id"], json!(oldest));
    let changed = get(
        &emu,
        &format!("/v1.0/security/alerts_v2?$filter=lastUpdateDateTime ge {}", format_graph_time(later)),
        &token,
        &[],
    )
    .await
    .json();
    let changed_ids: BTreeSet<&str> =
        changed["value"].as_array().unwrap().iter().map(|a| a["incidentId"].as_str().unwrap()).collect();
    assert_eq!(changed_ids, [oldest.as_str()].into_iter().collect());
}
