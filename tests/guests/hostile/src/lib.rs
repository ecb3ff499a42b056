//! Hostile test components: a connector whose `fetch-incidents` attacks the sandbox in the way its
//! cargo feature names. The other exports behave, so the host loads and describes it normally.

#![allow(dead_code)] // each feature uses some of the helpers

#[cfg(feature = "future-world")]
mod future {
    wit_bindgen::generate!({
        inline: "package redcarbon:connector@0.9.0;
            interface connector { describe: func() -> string; }
            world connector-plugin { export connector; }",
        world: "redcarbon:connector/connector-plugin@0.9.0",
    });
    struct Future;
    impl exports::redcarbon::connector::connector::Guest for Future {
        fn describe() -> String {
            "a connector of a later contract".into()
        }
    }
    export!(Future);
}

#[cfg(not(feature = "future-world"))]
mod current {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "redcarbon:connector/connector-plugin",
        with: {
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
            "wasi:config/store@0.2.0-rc.1": generate,
        },
    });
    use exports::redcarbon::connector::connector::Guest;
    use redcarbon::connector::types as wit;
    use wasi::config::store;
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, FutureIncomingResponse, Method, OutgoingRequest, Scheme};

    struct Hostile;

    fn key(name: &str, description: &str, secret: bool, endpoint: bool) -> wit::ConfigKey {
        wit::ConfigKey {
            name: name.into(),
            description: description.into(),
            secret,
            required: false,
            endpoint,
            default_value: None,
            presets: Vec::new(),
        }
    }

    fn setting(name: &str) -> Option<String> {
        store::get(name).ok().flatten()
    }

    /// Sends a GET to `url` without waiting for the answer.
    fn send(url: &str) -> Result<FutureIncomingResponse, String> {
        let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let request = OutgoingRequest::new(Fields::new());
        request.set_method(&Method::Get).map_err(|_| "method")?;
        let scheme = if scheme == "https" { Scheme::Https } else { Scheme::Http };
        request.set_scheme(Some(&scheme)).map_err(|_| "scheme")?;
        request.set_authority(Some(authority)).map_err(|_| "authority")?;
        request.set_path_with_query(Some(path)).map_err(|_| "path")?;
        outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))
    }

    /// Waits for a response: its status and `location` header, or the error code.
    fn wait(future: FutureIncomingResponse) -> Result<(u16, Option<String>), String> {
        future.subscribe().block();
        match future.get() {
            Some(Ok(Ok(resp))) => {
                let location = resp.headers().get("location").first().map(|v| String::from_utf8_lossy(v).into_owned());
                Ok((resp.status(), location))
            }
            Some(Ok(Err(code))) => Err(format!("{code:?}")),
            _ => Err("lost".into()),
        }
    }

    fn empty_page() -> wit::IncidentPage {
        wit::IncidentPage { incidents: Vec::new(), next_cursor: "{}".into(), more: false, degraded: None }
    }

    fn json_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[allow(unreachable_code, unused_variables, unused_mut)]
    fn attack() -> Result<wit::IncidentPage, wit::ConnectorError> {
        #[cfg(feature = "memory-bomb")]
        {
            // Grabs and touches 1 MiB after 1 MiB until something stops it.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![0xA5; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        #[cfg(feature = "infinite-loop")]
        {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        #[cfg(feature = "panic")]
        {
            panic!("hostile component: deliberate panic in fetch-incidents");
        }
        #[cfg(feature = "stdout-flood")]
        {
            // 16 MiB of output, a 1 KiB line at a time.
            let line = "x".repeat(1023);
            for _ in 0..16 * 1024 {
                println!("{line}");
            }
            return Ok(empty_page());
        }
        #[cfg(feature = "request-flood")]
        {
            // Hundreds of requests at once, none awaited until all are started; then claims success.
            let base = setting("graph-endpoint").unwrap_or_default();
            let url = format!("{base}/v1.0/security/incidents");
            let futures: Vec<_> = (0..300).filter_map(|_| send(&url).ok()).collect();
            for f in futures {
                let _ = wait(f);
            }
            return Ok(empty_page());
        }
        #[cfg(feature = "egress")]
        {
            // Each target directly; a 3xx is followed to its Location, as a naive client would.
            let mut outcomes = Vec::new();
            for target in setting("targets").unwrap_or_default().split(',').filter(|t| !t.is_empty()) {
                let outcome = match send(target).and_then(wait) {
                    Ok((status, Some(location))) if (300..400).contains(&status) => {
                        format!("{target} -> {status} -> {location}: {:?}", send(&location).and_then(wait))
                    }
                    other => format!("{target}: {other:?}"),
                };
                outcomes.push(outcome);
            }
            // Pretends all went well: the host must still report what it refused.
            return Ok(empty_page());
        }
        #[cfg(feature = "config-snoop")]
        {
            // Tries other tenants' keys under every spelling a shared store might use, and lists all.
            let probes = [
                "client-secret",
                "other/client-secret",
                "../other/client-secret",
                "tenant:other:client-secret",
                "other.client-secret",
                "*",
                "",
            ];
            let mut got = Vec::new();
            for p in probes {
                let v = match store::get(p) {
                    Ok(Some(v)) => json_string(&v),
                    Ok(None) => "null".into(),
                    Err(_) => "\"error\"".into(),
                };
                got.push(format!("{}:{v}", json_string(p)));
            }
            let mut all: Vec<(String, String)> = store::get_all().unwrap_or_default();
            all.sort();
            let all: Vec<String> =
                all.iter().map(|(k, v)| format!("[{},{}]", json_string(k), json_string(v))).collect();
            let raw = format!("{{\"id\":\"snoop\",\"get\":{{{}}},\"all\":[{}]}}", got.join(","), all.join(","));
            let now = wit::Timestamp { seconds: 1_800_000_000, nanoseconds: 0 };
            let empty = wit::EvidenceSummary {
                devices: vec![],
                users: vec![],
                ips: vec![],
                files: vec![],
                urls: vec![],
                mailboxes: vec![],
                other: 0,
            };
            let incident = wit::Incident {
                id: "snoop".into(),
                title: "what the component could read".into(),
                severity: "informational".into(),
                score: 0,
                status: "active".into(),
                classification: None,
                determination: None,
                created: now,
                last_updated: now,
                version: "2027-01-15T08:00:00.0000000Z".into(),
                service_sources: vec![],
                detection_sources: vec![],
                assigned_to: None,
                web_url: None,
                mitre_techniques: vec![],
                alert_ids: vec![],
                evidence: empty,
                redirect_incident_id: None,
                raw,
            };
            return Ok(wit::IncidentPage {
                incidents: vec![incident],
                next_cursor: "{}".into(),
                more: false,
                degraded: None,
            });
        }
        Ok(empty_page())
    }

    impl Guest for Hostile {
        fn describe() -> wit::ConnectorInfo {
            wit::ConnectorInfo {
                name: "hostile".into(),
                version: "0.0.1".into(),
                // The Defender connector's keys (all optional), so a Defender tenant's config fits a hostile
                // build too: that is how a bad release of the real connector would look to the host.
                config_keys: vec![
                    key("tenant-id", "", false, false),
                    key("client-id", "", false, false),
                    key("client-secret", "a secret to leak", true, false),
                    key("login-endpoint", "", false, true),
                    key("graph-endpoint", "the origin this tenant allows", false, true),
                    key("defender-endpoint", "", false, true),
                    key("cloud", "", false, false),
                    key("certificate-private-key", "", true, false),
                    key("certificate-thumbprint", "", false, false),
                    key("backfill", "", false, false),
                    key("incidents-page-size", "", false, false),
                    key("alerts-page-size", "", false, false),
                    key("lookback", "", false, false),
                    key("targets", "comma-separated URLs to try to reach", false, false),
                    // An endpoint with a default: a release that quietly adds an origin to every tenant.
                    #[cfg(feature = "egress")]
                    wit::ConfigKey {
                        name: "exfil-endpoint".into(),
                        description: "where a bad release would send data".into(),
                        secret: false,
                        required: false,
                        endpoint: true,
                        default_value: Some("https://exfil.example".into()),
                        presets: Vec::new(),
                    },
                ],
                default_hosts: vec![],
                permissions: vec![],
            }
        }

        fn authenticate() -> Result<wit::AuthInfo, wit::ConnectorError> {
            Ok(wit::AuthInfo { expires_in_seconds: 3600, roles: vec![], audience: None })
        }

        fn fetch_incidents(_request: wit::FetchRequest) -> Result<wit::IncidentPage, wit::ConnectorError> {
            attack()
        }

        fn fetch_alerts(_request: wit::FetchRequest) -> Result<wit::AlertPage, wit::ConnectorError> {
            Ok(wit::AlertPage { alerts: Vec::new(), next_cursor: "{}".into(), more: false })
        }

        fn check_config() -> Result<(), wit::ConnectorError> {
            Ok(())
        }

        fn test_connection() -> Vec<wit::Check> {
            Vec::new()
        }

        fn update_incident(
            _id: String,
            _update: wit::IncidentUpdate,
        ) -> Result<wit::UpdateResult, wit::ConnectorError> {
            Err(wit::ConnectorError::NotFound("a hostile test component has no incidents".into()))
        }

        fn add_incident_comment(_id: String, _comment: String) -> Result<wit::UpdateResult, wit::ConnectorError> {
            Err(wit::ConnectorError::NotFound("a hostile test component has no incidents".into()))
        }

        fn run_hunting_query(
            _query: String,
            _timespan: Option<String>,
        ) -> Result<wit::HuntingResult, wit::ConnectorError> {
            Ok(wit::HuntingResult { columns: Vec::new(), rows: Vec::new(), truncated: false })
        }

        fn map_severity(_severity: String) -> u8 {
            0
        }
    }

    export!(Hostile);
}
