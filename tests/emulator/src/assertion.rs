//! Client assertions checked the way Entra ID checks them: an RS256 JWT whose `x5t` names an
//! uploaded certificate, signed by that certificate's key, for this token endpoint, now.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde_json::Value;
use sha1::{Digest, Sha1};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

/// `client_assertion_type` of a JWT client assertion.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew Entra tolerates.
const SKEW_SECS: i64 = 300;

/// base64url(SHA-1(certificate DER)): the `x5t` of a certificate.
pub fn thumbprint_x5t(cert_pem: &str) -> Option<String> {
    let cert = Certificate::from_pem(cert_pem.as_bytes()).ok()?;
    Some(URL_SAFE_NO_PAD.encode(Sha1::digest(cert.to_der().ok()?)))
}

/// Checks a client assertion as Entra does (signature by `cert_pem`'s key, `x5t`, audience,
/// issuer, subject, time); the error names the first problem.
pub fn verify_client_assertion(cert_pem: &str, jwt: &str, client_id: &str, token_url: &str) -> Result<(), String> {
    verify(Some(cert_pem), jwt, client_id, token_url, crate::time::now())
        .map_err(|(code, text)| format!("AADSTS{code}: {text}"))
}

/// Checks `jwt` against the app's certificate; the error is an AADSTS code and its text.
pub(crate) fn verify(
    cert_pem: Option<&str>,
    jwt: &str,
    client_id: &str,
    token_url: &str,
    now: DateTime<Utc>,
) -> Result<(), (u32, String)> {
    let malformed = || (50027, "JWT token is invalid or malformed.".to_string());
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else { return Err(malformed()) };
    let decode = |p: &str| -> Option<Value> { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok() };
    let (Some(h), Some(c)) = (decode(header), decode(claims)) else { return Err(malformed()) };
    let not_registered = || {
        (
            700027,
            format!(
                "Client assertion failed signature validation. Trace ID: none. Key was not found: the certificate with the identifier used to sign the client assertion is not registered on application '{client_id}'."
            ),
        )
    };
    let cert_pem = cert_pem.ok_or_else(not_registered)?;
    let cert = Certificate::from_pem(cert_pem.as_bytes()).map_err(|_| not_registered())?;
    let x5t = thumbprint_x5t(cert_pem).ok_or_else(not_registered)?;
    if h.get("alg").and_then(Value::as_str) != Some("RS256") || h.get("x5t").and_then(Value::as_str) != Some(&x5t) {
        return Err(not_registered());
    }
    let spki = cert.tbs_certificate().subject_public_key_info().to_der().map_err(|_| not_registered())?;
    let key = rsa::PublicKey::from_public_key_der(&spki).map_err(|_| not_registered())?;
    let sig = URL_SAFE_NO_PAD.decode(signature).ok().and_then(|b| Signature::try_from(b.as_slice()).ok());
    let valid = sig.is_some_and(|sig| {
        VerifyingKey::<sha2::Sha256>::new(key).verify(format!("{header}.{claims}").as_bytes(), &sig).is_ok()
    });
    if !valid {
        return Err((700027, "Client assertion failed signature validation.".to_string()));
    }
    if c.get("aud").and_then(Value::as_str) != Some(token_url) {
        return Err((
            700021,
            format!("Client assertion audience claim does not match Realm issuer: expected {token_url}."),
        ));
    }
    for claim in ["iss", "sub"] {
        if c.get(claim).and_then(Value::as_str) != Some(client_id) {
            return Err((700023, format!("Client assertion contains an invalid `{claim}`: it must be the client id.")));
        }
    }
    let t = now.timestamp();
    let (nbf, exp) = (c.get("nbf").and_then(Value::as_i64), c.get("exp").and_then(Value::as_i64));
    match (nbf, exp) {
        (Some(nbf), Some(exp)) if nbf - SKEW_SECS <= t && t < exp + SKEW_SECS => Ok(()),
        _ => Err((
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf:?}, expiry time of assertion {exp:?}."
            ),
        )),
    }
}
