//! Certificate credentials: a client assertion (RS256 JWT whose `x5t` header names the
//! certificate's SHA-1 thumbprint) signed with the certificate's private key, as Entra ID's
//! client-credentials flow accepts instead of a client secret.

use crate::config::CERTIFICATE_KEY;
use crate::error::ConnectorError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::PrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::{Digest, Sha256};

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an assertion is valid; Entra only needs it for the one token request.
const LIFETIME_SECS: i64 = 600;

/// The PEM block labelled `label` (`-----BEGIN {label}-----` … `-----END {label}-----`) in `text`.
fn block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(&text[start..stop])
}

fn parse_key(pem: &str) -> Result<PrivateKey, ConnectorError> {
    // Key Vault downloads and openssl exports put the key among certificates and "Bag Attributes"
    // lines: use the key block wherever it is.
    let parsed = if let Some(b) = block(pem, "RSA PRIVATE KEY") {
        PrivateKey::from_pkcs1_pem(b).map_err(|e| e.to_string())
    } else if let Some(b) = block(pem, "PRIVATE KEY") {
        PrivateKey::from_pkcs8_pem(b).map_err(|e| match e.to_string() {
            m if m.contains("1.2.840.10045") => {
                "it is an EC key; Entra ID client assertions need an RSA certificate".to_string()
            }
            m => m,
        })
    } else if block(pem, "ENCRYPTED PRIVATE KEY").is_some() {
        Err("the key is encrypted; export it without a password (the value is kept as a secret)".to_string())
    } else if block(pem, "EC PRIVATE KEY").is_some() {
        Err("it is an EC key; Entra ID client assertions need an RSA certificate".to_string())
    } else if block(pem, "CERTIFICATE").is_some() {
        Err("it is the certificate, not its private key; give the key (-----BEGIN PRIVATE KEY-----) that belongs to it"
            .to_string())
    } else {
        Err("it holds no -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY----- block".to_string())
    };
    // The parser's error names a structure, never key material.
    parsed.map_err(|why| {
        ConnectorError::config(
            CERTIFICATE_KEY,
            format!("the value is not a usable PEM RSA private key: {why}. Give the private key of the certificate uploaded to the app registration"),
        )
    })
}

/// Checks that `pem` is an RSA private key this module can sign with.
pub fn check_private_key(pem: &str) -> Result<(), ConnectorError> {
    parse_key(pem).map(|_| ())
}

/// A signed client assertion for `client_id` at `token_url`, issued at `now` (Unix seconds);
/// `nonce` makes its `jti` unique among assertions of the same second.
pub fn client_assertion(
    pem: &str,
    thumbprint: &[u8; 20],
    client_id: &str,
    token_url: &str,
    now: i64,
    nonce: u64,
) -> Result<String, ConnectorError> {
    let key = parse_key(pem)?;
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(thumbprint) });
    // jti: unique per assertion; derived, since the sandbox offers no random source we rely on.
    let jti = {
        let digest = Sha256::digest(format!("{client_id}|{token_url}|{now}|{nonce}").as_bytes());
        let h: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    };
    let claims = serde_json::json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": jti,
        "iat": now,
        "nbf": now,
        "exp": now + LIFETIME_SECS,
    });
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = SigningKey::<Sha256>::new(key).sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    pub(crate) const KEY_PEM: &str = include_str!("../../tests/fixtures/certificate/key.pem");
    const KEY_PKCS1_PEM: &str = include_str!("../../tests/fixtures/certificate/key-pkcs1.pem");

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn the_assertion_is_an_rs256_jwt_with_the_claims_entra_checks() {
        let tp = [0xdd; 20];
        let url = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
        let jwt = client_assertion(KEY_PEM, &tp, "app-id", url, 1_700_000_000, 1).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode(parts[0]),
            serde_json::json!({"alg":"RS256","typ":"JWT","x5t":"3d3d3d3d3d3d3d3d3d3d3d3d3d0"})
        );
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], url);
        assert_eq!(claims["iss"], "app-id");
        assert_eq!(claims["sub"], "app-id");
        assert_eq!(claims["nbf"], 1_700_000_000);
        assert_eq!(claims["exp"], 1_700_000_600);
        let other = client_assertion(KEY_PEM, &tp, "app-id", url, 1_700_000_000, 2).unwrap();
        assert_ne!(decode(other.split('.').nth(1).unwrap())["jti"], claims["jti"]);

        let key = PrivateKey::from_pkcs8_pem(KEY_PEM).unwrap();
        let verifier = VerifyingKey::<Sha256>::new(key.to_public_key());
        let sig = Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
        verifier.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
        // A changed claim no longer verifies.
        assert!(verifier.verify(format!("{}.{}x", parts[0], parts[1]).as_bytes(), &sig).is_err());
    }

    #[test]
    fn pkcs1_and_pkcs8_keys_are_accepted_and_others_named() {
        check_private_key(KEY_PEM).unwrap();
        let cert = include_str!("../../tests/fixtures/certificate/cert.pem");
        // Key and certificate in one file, with openssl's Bag Attributes, as exports have them.
        check_private_key(&format!("Bag Attributes\n    localKeyID: 01 00 00 00\n{KEY_PEM}{cert}")).unwrap();
        check_private_key(&format!("{cert}{KEY_PKCS1_PEM}")).unwrap();
        let e = check_private_key(cert).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Config { message, .. } if message.contains("it is the certificate, not its private key")),
            "{e:?}"
        );
        let e = check_private_key("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----").unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { message, .. } if message.contains("EC key")), "{e:?}");
        check_private_key(KEY_PKCS1_PEM).unwrap();
        let e = check_private_key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----")
            .unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { message, .. } if message.contains("encrypted")), "{e:?}");
        let e = check_private_key("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC").unwrap_err();
        assert!(matches!(&e, ConnectorError::Config { key, .. } if key == "certificate-private-key"));
    }
}
