//! Requests that must never reach the API server with the proxy's rights: no credential, a
//! blank or invalid token, a client certificate from another CA, a forged `Impersonate-User`,
//! an `Authorization` header listed in `Connection`. Each is refused with a Kubernetes Status,
//! and the API server's audit log shows that none of them reached it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::type_complexity)] // test code

mod common;

use std::sync::Arc;

use common::{certificate, env, proxy, raw};
use http::Method;
use palisade_testenv::unique_name;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn status_of(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a Status ({e}): {body}"))
}

#[tokio::test]
async fn refused_credentials_never_reach_the_api_server() {
    let p = proxy();
    let marker = unique_name("never-forwarded");
    let path = format!("/api/v1/namespaces/{marker}");
    let alice = certificate(&unique_name("alice"), &[]).await;
    let cases: Vec<(&str, Option<&(Vec<u8>, Vec<u8>)>, Vec<(&str, &str)>, u16)> = vec![
        ("no credential", None, vec![], 401),
        ("blank bearer token", None, vec![("authorization", "Bearer ")], 401),
        ("bearer without a token", None, vec![("authorization", "Bearer")], 401),
        (
            "invalid bearer token",
            None,
            vec![("authorization", "Bearer not-a-token")],
            401,
        ),
        (
            "basic credentials",
            None,
            vec![("authorization", "Basic YWRtaW46YWRtaW4=")],
            401,
        ),
        (
            "forged Impersonate-User",
            Some(&alice),
            vec![("impersonate-user", "system:admin")],
            403,
        ),
        (
            "forged Impersonate-Group",
            Some(&alice),
            vec![("impersonate-group", "system:masters")],
            403,
        ),
        (
            "front-proxy user header",
            Some(&alice),
            vec![("x-remote-user", "system:admin")],
            403,
        ),
        (
            "Authorization listed in Connection",
            None,
            vec![("authorization", "Bearer not-a-token"), ("connection", "Authorization")],
            401,
        ),
        (
            "Authorization listed in Connection, with a certificate",
            Some(&alice),
            vec![("authorization", "Bearer x"), ("connection", "close, Authorization")],
            400,
        ),
    ];
    for (what, cert, headers, code) in &cases {
        let (status, _, body) = raw(p, *cert, Method::GET, &path, headers).await;
        assert_eq!(status.as_u16(), *code, "{what}: {body}");
        let parsed = status_of(&body);
        assert_eq!(parsed["kind"], "Status", "{what}");
        assert_eq!(parsed["code"], *code, "{what}");
    }
    // None of them was forwarded, under any name.
    let events = env().audit_events().await.unwrap();
    let reached: Vec<_> = events.iter().filter(|e| e.request_uri.contains(&marker)).collect();
    assert!(
        reached.is_empty(),
        "refused requests reached the API server: {reached:?}"
    );

    // The compliant variant is forwarded, as alice.
    let (status, _, body) = raw(p, Some(&alice), Method::GET, &path, &[]).await;
    assert_eq!(status, 403, "alice may not read that namespace: {body}");
    assert!(
        body.contains("alice"),
        "the API server names the user it judged: {body}"
    );
    let events = env().audit_events().await.unwrap();
    let forwarded: Vec<_> = events.iter().filter(|e| e.request_uri.contains(&marker)).collect();
    assert!(!forwarded.is_empty(), "the compliant request was not audited");
    for event in forwarded {
        let impersonated = event.impersonated_user.as_ref().map(|u| u.username.as_str());
        assert!(impersonated.is_some_and(|u| u.starts_with("alice")), "{event:?}");
        assert_eq!(event.user.username, common::PROXY_USER, "{event:?}");
    }
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_in_the_handshake() {
    let p = proxy();
    // A self-signed client certificate the cluster's CA never signed.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "system:admin");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:masters");
    let cert = params.self_signed(&key).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(p.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let outcome = async {
        let mut tls = connector
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tls.write_all(b"GET /api/v1/namespaces HTTP/1.1\r\nhost: x\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    }
    .await;
    match outcome {
        Err(_) => {}
        Ok(bytes) => panic!(
            "a foreign certificate got an answer: {}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}
