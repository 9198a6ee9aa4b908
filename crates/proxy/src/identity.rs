//! Who sent a request, as the API server would name them: user, UID, groups and extra, taken
//! from a verified client certificate or a TokenReview, and how that identity travels
//! upstream (impersonation headers). Nothing the client says about itself in headers counts.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use k8s_openapi::api::authentication::v1::UserInfo;

use crate::status::Refusal;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

const ANONYMOUS: &str = "system:anonymous";
const UNAUTHENTICATED: &str = "system:unauthenticated";

impl Identity {
    /// The identity in a client certificate the TLS handshake already verified against the
    /// client CA: the subject's common name is the user, each organization a group (the API
    /// server's own rule).
    pub fn from_certificate(der: &[u8]) -> Result<Identity, Refusal> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der)
            .map_err(|_| Refusal::unauthorized("the client certificate cannot be parsed"))?;
        let subject = certificate.subject();
        let username = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_string();
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok())
            .map(str::to_string)
            .collect();
        Identity {
            username,
            uid: None,
            groups,
            extra: BTreeMap::new(),
        }
        .checked()
    }

    /// The identity a TokenReview vouched for.
    pub fn from_user_info(user: &UserInfo) -> Result<Identity, Refusal> {
        Identity {
            username: user.username.clone().unwrap_or_default(),
            uid: user.uid.clone().filter(|uid| !uid.is_empty()),
            groups: user.groups.clone().unwrap_or_default(),
            extra: user.extra.clone().unwrap_or_default(),
        }
        .checked()
    }

    /// Refuses identities the proxy must never forward: no name, or anonymous. Forwarding an
    /// anonymous user would still be made with the proxy's connection, and this proxy exists
    /// for named users only.
    fn checked(self) -> Result<Identity, Refusal> {
        if self.username.is_empty() {
            return Err(Refusal::unauthorized("the credential names no user"));
        }
        if self.username == ANONYMOUS || self.groups.iter().any(|g| g == UNAUTHENTICATED) {
            return Err(Refusal::unauthorized(
                "anonymous requests are not served by the Palisade proxy: present a client certificate or a bearer token",
            ));
        }
        Ok(self)
    }

    /// The same identity in the shape admission decisions take.
    pub fn user_info(&self) -> UserInfo {
        UserInfo {
            username: Some(self.username.clone()),
            uid: self.uid.clone(),
            groups: Some(self.groups.clone()),
            extra: Some(self.extra.clone()),
        }
    }

    /// Puts this identity on an upstream request as impersonation headers, so that the API
    /// server authorizes and audits the request as this user and no one else.
    pub fn impersonate(&self, headers: &mut HeaderMap) -> Result<(), Refusal> {
        let value = |v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| Refusal::bad_request("the identity holds a character HTTP headers cannot carry"))
        };
        headers.insert(HeaderName::from_static("impersonate-user"), value(&self.username)?);
        if let Some(uid) = &self.uid {
            headers.insert(HeaderName::from_static("impersonate-uid"), value(uid)?);
        }
        for group in &self.groups {
            headers.append(HeaderName::from_static("impersonate-group"), value(group)?);
        }
        for (key, values) in &self.extra {
            let name = HeaderName::from_bytes(format!("impersonate-extra-{}", escape_extra_key(key)).as_bytes())
                .map_err(|_| Refusal::bad_request("the identity holds an extra key HTTP headers cannot carry"))?;
            for v in values {
                headers.append(name.clone(), value(v)?);
            }
        }
        Ok(())
    }
}

/// Extra keys hold characters (`/`, uppercase) header names cannot: the API server reads
/// `Impersonate-Extra-` keys percent-decoded, so every byte outside the unreserved set is
/// escaped.
fn escape_extra_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            username: "alice".into(),
            uid: Some("42".into()),
            groups: vec!["team-a".into(), "system:authenticated".into()],
            extra: BTreeMap::from([("authentication.kubernetes.io/pod-name".into(), vec!["web-0".into()])]),
        }
    }

    #[test]
    fn impersonation_carries_every_part_of_the_identity() {
        let mut headers = HeaderMap::new();
        alice().impersonate(&mut headers).unwrap();
        assert_eq!(headers["impersonate-user"], "alice");
        assert_eq!(headers["impersonate-uid"], "42");
        let groups: Vec<_> = headers.get_all("impersonate-group").iter().collect();
        assert_eq!(groups, ["team-a", "system:authenticated"]);
        assert_eq!(
            headers["impersonate-extra-authentication.kubernetes.io%2Fpod-name"],
            "web-0"
        );
    }

    #[test]
    fn anonymous_and_nameless_identities_are_refused() {
        let user = |name: &str, group: &str| UserInfo {
            username: Some(name.into()),
            groups: Some(vec![group.into()]),
            ..UserInfo::default()
        };
        assert!(Identity::from_user_info(&user("system:anonymous", "x")).is_err());
        assert!(Identity::from_user_info(&user("bob", "system:unauthenticated")).is_err());
        assert!(Identity::from_user_info(&user("", "x")).is_err());
        assert!(Identity::from_user_info(&user("bob", "x")).is_ok());
    }

    #[test]
    fn a_header_value_that_cannot_be_sent_is_refused_not_truncated() {
        let mut id = alice();
        id.groups.push("evil\r\nimpersonate-user: root".into());
        assert!(id.impersonate(&mut HeaderMap::new()).is_err());
    }

    #[test]
    fn certificates_name_user_and_groups() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice@example.com");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "payments-devs");
        let cert = params.self_signed(&key).unwrap();
        let id = Identity::from_certificate(cert.der()).unwrap();
        assert_eq!(id.username, "alice@example.com");
        assert_eq!(id.groups, ["payments-devs"]);
    }
}
