//! What crosses the proxy in headers. Upstream requests carry the client's content headers
//! and the impersonation of the authenticated user, never the client's credentials or its
//! claims about who it is; responses lose the hop-by-hop headers of the upstream connection.

use http::{HeaderMap, header};

use crate::identity::Identity;
use crate::status::Refusal;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Headers through which a client could speak for someone else: impersonation, and the
/// front-proxy headers an API server trusts from an authenticating proxy's certificate.
fn is_identity_claim(name: &str) -> bool {
    name.starts_with("impersonate-") || name.starts_with("x-remote-")
}

/// Whether the request asks to switch protocols (exec, attach, port-forward).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE) && connection_tokens(headers).any(|t| t == "upgrade")
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

/// The headers to send upstream for a client request made by `identity`.
///
/// Refused rather than quietly fixed: an `Impersonate-*` or `X-Remote-*` header (a client
/// asking to be someone else), and a `Connection` header naming `Authorization` or an identity
/// header (a trick to make a proxy drop the credential after reading it, so that the request
/// goes on with the proxy's own rights). Every refusal is before anything is sent.
pub fn upstream_request_headers(client: &HeaderMap, identity: &Identity) -> Result<HeaderMap, Refusal> {
    for name in client.keys() {
        if is_identity_claim(name.as_str()) {
            return Err(Refusal::forbidden(format!(
                "the Palisade proxy sends every request as the user who authenticated; a `{name}` header asks to be someone else and is not accepted (use the API server directly to impersonate)"
            )));
        }
    }
    let listed: Vec<String> = connection_tokens(client).collect();
    if let Some(token) = listed
        .iter()
        .find(|t| *t == "authorization" || is_identity_claim(t) || *t == "host")
    {
        return Err(Refusal::bad_request(format!(
            "the `Connection` header names `{token}`, which is end-to-end here; remove it from `Connection`"
        )));
    }
    let upgrade = is_upgrade(client);
    let mut out = HeaderMap::with_capacity(client.len() + 4);
    for (name, value) in client {
        let lower = name.as_str();
        let dropped = HOP_BY_HOP.contains(&lower)
            || (listed.iter().any(|t| t == lower) && !(upgrade && name == header::UPGRADE))
            || name == header::AUTHORIZATION
            || name == header::HOST
            || (name == header::UPGRADE && !upgrade);
        if !dropped {
            out.append(name.clone(), value.clone());
        }
    }
    if upgrade {
        out.insert(header::CONNECTION, http::HeaderValue::from_static("Upgrade"));
    }
    identity.impersonate(&mut out)?;
    Ok(out)
}

/// The upstream response's headers for the client: hop-by-hop ones dropped, except what a
/// protocol switch (101) needs.
pub fn downstream_response_headers(upstream: &HeaderMap, switching: bool) -> HeaderMap {
    let listed: Vec<String> = connection_tokens(upstream).collect();
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        let lower = name.as_str();
        let hop = HOP_BY_HOP.contains(&lower) || listed.iter().any(|t| t == lower) || name == header::UPGRADE;
        if !hop || (switching && (name == header::UPGRADE || name == header::CONNECTION)) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use http::{HeaderName, HeaderValue};

    use super::*;

    fn name(s: &'static str) -> HeaderName {
        HeaderName::from_static(s)
    }

    fn alice() -> Identity {
        Identity {
            username: "alice".into(),
            uid: None,
            groups: vec!["team-a".into()],
            extra: BTreeMap::new(),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(name(k), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_credential_and_hop_headers_stay_here_and_the_user_travels_as_impersonation() {
        let out = upstream_request_headers(
            &headers(&[
                ("authorization", "Bearer secret"),
                ("accept", "application/json"),
                ("connection", "keep-alive, x-trace"),
                ("x-trace", "1"),
                ("host", "proxy.example"),
                ("te", "trailers"),
            ]),
            &alice(),
        )
        .unwrap();
        assert!(out.get("authorization").is_none());
        assert!(
            out.get("x-trace").is_none(),
            "a header the client listed in Connection is hop-by-hop"
        );
        assert!(out.get("host").is_none() && out.get("te").is_none() && out.get("connection").is_none());
        assert_eq!(out["accept"], "application/json");
        assert_eq!(out["impersonate-user"], "alice");
        assert_eq!(out["impersonate-group"], "team-a");
    }

    #[test]
    fn identity_claims_are_refused() {
        for claim in [
            "impersonate-user",
            "impersonate-group",
            "impersonate-uid",
            "impersonate-extra-scopes",
            "x-remote-user",
        ] {
            let mut h = HeaderMap::new();
            h.insert(
                HeaderName::from_bytes(claim.as_bytes()).unwrap(),
                HeaderValue::from_static("root"),
            );
            let refusal = upstream_request_headers(&h, &alice()).unwrap_err();
            assert_eq!(refusal.code, 403, "{claim}");
        }
    }

    #[test]
    fn a_connection_header_naming_the_credential_is_refused() {
        for listed in ["Authorization", "close, authorization", "Impersonate-User", "host"] {
            let mut h = headers(&[("authorization", "Bearer x")]);
            h.insert(header::CONNECTION, HeaderValue::from_static(listed));
            assert_eq!(
                upstream_request_headers(&h, &alice()).unwrap_err().code,
                400,
                "{listed}"
            );
        }
    }

    #[test]
    fn an_upgrade_keeps_its_protocol_headers() {
        let out = upstream_request_headers(
            &headers(&[
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-protocol", "v5.channel.k8s.io"),
            ]),
            &alice(),
        )
        .unwrap();
        assert_eq!(out["upgrade"], "websocket");
        assert_eq!(out["connection"], "Upgrade");
        assert_eq!(out["sec-websocket-protocol"], "v5.channel.k8s.io");
        let plain = upstream_request_headers(&headers(&[("upgrade", "websocket")]), &alice()).unwrap();
        assert!(
            plain.get("upgrade").is_none(),
            "Upgrade without Connection: Upgrade is not a switch"
        );
    }

    #[test]
    fn responses_lose_hop_headers_but_a_switch_keeps_its_own() {
        let upstream = headers(&[
            ("content-type", "application/json"),
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1"),
            ("transfer-encoding", "chunked"),
        ]);
        let plain = downstream_response_headers(&upstream, false);
        assert_eq!(plain.len(), 1);
        let switched = downstream_response_headers(&upstream, true);
        assert_eq!(switched["upgrade"], "SPDY/3.1");
        assert_eq!(switched["connection"], "Upgrade");
        assert!(switched.get("transfer-encoding").is_none());
    }
}
