//! A tiny HTTP/1.1 client over `tokio::net::TcpStream` (one request per connection), plus helpers
//! shared by the test modules.

use graph_emulator::{Emulator, TenantData};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TENANT: &str = "8b3d5f1e-2c4a-4e6b-9d8f-0a1b2c3d4e5f";
pub const CLIENT: &str = "11111111-2222-4333-8444-555555555555";
pub const SECRET: &str = "s3cret~value";

/// A response as received.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request to an absolute `http://host:port/...` URL.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = tokio::net::TcpStream::connect(authority).await.expect("connect");
    // Tests write readable URLs; spaces must still be escaped on the request line.
    let target = target.replace(' ', "%20");
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Reply { status, headers, body }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, tail) = rest.split_once("\r\n").expect("chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex size");
        if size == 0 {
            return out;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
}

/// Form-encodes pairs the way a client would.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// Posts a token request to `{base}/{tenant}/oauth2/v2.0/token`.
pub async fn token_request(emu: &Emulator, tenant: &str, pairs: &[(&str, &str)]) -> Reply {
    send(
        "POST",
        &format!("{}/{tenant}/oauth2/v2.0/token", emu.base_url()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form(pairs),
    )
    .await
}

/// A fresh token for `tenant` with the standard credentials.
pub async fn token_for(emu: &Emulator, tenant: &str, client: &str, secret: &str) -> String {
    let reply = token_request(
        emu,
        tenant,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_string()
}

/// A started emulator with one empty tenant ([`TENANT`], [`CLIENT`], [`SECRET`]).
pub async fn emulator() -> Emulator {
    let emu = Emulator::start().await.expect("start");
    emu.add_tenant(TenantData::new(TENANT, CLIENT, SECRET));
    emu
}

/// `GET {base}{path_and_query}` with a bearer token and extra headers.
pub async fn get(emu: &Emulator, path_and_query: &str, token: &str, extra: &[(&str, &str)]) -> Reply {
    get_url(&format!("{}{path_and_query}", emu.base_url()), token, extra).await
}

pub async fn get_url(url: &str, token: &str, extra: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    send("GET", url, &headers, "").await
}

/// Asserts `date` is Graph's innerError form: `YYYY-MM-DDTHH:MM:SS`, no fraction, no `Z`.
pub fn assert_error_date(date: &str) {
    assert_eq!(date.len(), 19, "{date}");
    assert_eq!(&date[10..11], "T");
    assert!(chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S").is_ok(), "{date}");
}
