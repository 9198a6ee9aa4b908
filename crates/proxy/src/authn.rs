//! Authentication of every request, before anything is sent upstream.
//!
//! - A client certificate was verified by the TLS handshake against the cluster's client CA
//!   (expiry, chain, key usage); its subject names the user.
//! - A bearer token goes to a TokenReview made with the proxy's credentials, with the
//!   configured audiences. Only `status.authenticated == true` with a user name passes: an
//!   error, a missing flag or a blank token is a 401 (CVE-2023-48312 was a proxy that took a
//!   review without reading the flag). When audiences are configured, the review must say the
//!   token is valid for one of them.
//! - Reviews are cached for a few seconds by the SHA-256 of the token, so a watch-heavy
//!   client does not send one review per request; the token itself is not kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, header};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::identity::Identity;
use crate::metrics::ProxyMetrics;
use crate::status::Refusal;

/// How long an answer about a token is reused.
const ACCEPTED_FOR: Duration = Duration::from_secs(10);
const REFUSED_FOR: Duration = Duration::from_secs(2);
/// Bound on remembered tokens; beyond it expired answers are dropped, then everything.
const CACHE_LIMIT: usize = 10_000;

type TokenHash = [u8; 32];
/// When an answer was given, and what it was.
type Answer = (Instant, Result<Identity, Refusal>);

pub struct Authenticator {
    client: Client,
    audiences: Vec<String>,
    cache: Mutex<HashMap<TokenHash, Answer>>,
    metrics: ProxyMetrics,
}

impl Authenticator {
    pub fn new(client: Client, audiences: Vec<String>, metrics: ProxyMetrics) -> Authenticator {
        Authenticator {
            client,
            audiences,
            cache: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// The identity behind a request: its verified client certificate, or else its bearer
    /// token. No credential at all is a 401, never a request with the proxy's rights.
    pub async fn authenticate(
        &self,
        client_certificate: Option<&[u8]>,
        headers: &HeaderMap,
    ) -> Result<Identity, Refusal> {
        if let Some(der) = client_certificate {
            return Identity::from_certificate(der);
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Refusal::unauthorized(
                "no credentials: present a client certificate signed by the cluster's client CA, or a bearer token",
            ));
        };
        let token = bearer_token(value.as_bytes())?;
        self.review(token).await
    }

    async fn review(&self, token: &str) -> Result<Identity, Refusal> {
        let hash = token_hash(token);
        if let Some(answer) = self.cached(&hash) {
            self.metrics.token_review("cached");
            return answer;
        }
        let answer = self.ask_api_server(token).await;
        let outcome = match &answer {
            Ok(_) => "accepted",
            Err(refusal) if refusal.code == http::StatusCode::UNAUTHORIZED => "refused",
            Err(_) => "failed",
        };
        self.metrics.token_review(outcome);
        // A review that could not be made (API server down) is not remembered.
        if outcome != "failed" {
            self.remember(hash, answer.clone());
        }
        answer
    }

    fn cached(&self, hash: &TokenHash) -> Option<Result<Identity, Refusal>> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, answer) = cache.get(hash)?;
        let ttl = if answer.is_ok() { ACCEPTED_FOR } else { REFUSED_FOR };
        (at.elapsed() < ttl).then(|| answer.clone())
    }

    fn remember(&self, hash: TokenHash, answer: Result<Identity, Refusal>) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_LIMIT {
            cache.retain(|_, (at, _)| at.elapsed() < ACCEPTED_FOR);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(hash, (Instant::now(), answer));
    }

    async fn ask_api_server(&self, token: &str) -> Result<Identity, Refusal> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: (!self.audiences.is_empty()).then(|| self.audiences.clone()),
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "TokenReview failed");
                Refusal::upstream("the API server could not review the token; try again")
            })?;
        judge(&answer, &self.audiences)
    }
}

/// What a TokenReview answer means. Anything short of an explicit `authenticated: true` for a
/// named user (and, with audiences, one of ours) is a 401.
pub fn judge(review: &TokenReview, audiences: &[String]) -> Result<Identity, Refusal> {
    let refused = || Refusal::unauthorized("the bearer token was not accepted by the API server");
    let status = review.status.as_ref().ok_or_else(refused)?;
    if status.authenticated != Some(true) || status.error.as_deref().is_some_and(|e| !e.is_empty()) {
        return Err(refused());
    }
    if !audiences.is_empty() {
        let granted = status.audiences.as_deref().unwrap_or_default();
        if !granted.iter().any(|a| audiences.contains(a)) {
            return Err(Refusal::unauthorized(format!(
                "the bearer token is not for this proxy's audience ({}); request a token for it",
                audiences.join(", ")
            )));
        }
    }
    let user = status.user.as_ref().ok_or_else(refused)?;
    Identity::from_user_info(user)
}

/// The token of an `Authorization: Bearer <token>` header; anything else is a 401.
fn bearer_token(value: &[u8]) -> Result<&str, Refusal> {
    let value =
        std::str::from_utf8(value).map_err(|_| Refusal::unauthorized("the Authorization header is not text"))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::unauthorized(
            "only bearer tokens are accepted in the Authorization header (or use a client certificate)",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Refusal::unauthorized("the bearer token is empty"));
    }
    Ok(token)
}

fn token_hash(token: &str) -> TokenHash {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::authentication::v1::{TokenReviewStatus, UserInfo};

    use super::*;

    fn review(authenticated: Option<bool>, user: Option<&str>, audiences: &[&str]) -> TokenReview {
        TokenReview {
            status: Some(TokenReviewStatus {
                authenticated,
                user: user.map(|u| UserInfo {
                    username: Some(u.into()),
                    ..UserInfo::default()
                }),
                audiences: Some(audiences.iter().map(|a| a.to_string()).collect()),
                error: None,
            }),
            ..TokenReview::default()
        }
    }

    #[test]
    fn only_an_explicit_true_for_a_named_user_passes() {
        assert_eq!(
            judge(&review(Some(true), Some("bob"), &[]), &[]).unwrap().username,
            "bob"
        );
        assert_eq!(judge(&review(None, Some("bob"), &[]), &[]).unwrap_err().code, 401);
        assert_eq!(
            judge(&review(Some(false), Some("bob"), &[]), &[]).unwrap_err().code,
            401
        );
        assert_eq!(judge(&review(Some(true), None, &[]), &[]).unwrap_err().code, 401);
        assert_eq!(judge(&review(Some(true), Some(""), &[]), &[]).unwrap_err().code, 401);
        assert_eq!(judge(&TokenReview::default(), &[]).unwrap_err().code, 401);
    }

    #[test]
    fn audiences_must_meet() {
        let ours = vec!["palisade-proxy".to_string()];
        assert!(judge(&review(Some(true), Some("bob"), &["palisade-proxy"]), &ours).is_ok());
        assert_eq!(
            judge(&review(Some(true), Some("bob"), &["vault"]), &ours)
                .unwrap_err()
                .code,
            401
        );
        assert_eq!(
            judge(&review(Some(true), Some("bob"), &[]), &ours).unwrap_err().code,
            401
        );
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(b"Bearer abc").unwrap(), "abc");
        assert_eq!(bearer_token(b"bearer  abc ").unwrap(), "abc");
        assert!(bearer_token(b"Bearer ").is_err());
        assert!(bearer_token(b"Bearer").is_err());
        assert!(bearer_token(b"Basic dXNlcjpwYXNz").is_err());
        assert!(bearer_token(&[0xff, 0xfe]).is_err());
    }
}
