//! Requests to the API server, always as the authenticated user: the proxy's own credentials
//! open the connection, and the impersonation headers say whose request it is, so the API
//! server authorizes and audits it as that user.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;

use crate::identity::Identity;
use crate::status::Refusal;

/// The most a buffered upstream answer (one page of a fan-out) may hold.
const PAGE_LIMIT: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct Upstream {
    client: Client,
}

impl Upstream {
    pub fn new(client: Client) -> Upstream {
        Upstream { client }
    }

    /// Sends a request whose headers already carry the user's impersonation
    /// ([`crate::headers::upstream_request_headers`]).
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Body>, Refusal> {
        debug_assert!(request.headers().contains_key("impersonate-user"));
        self.client.send(request).await.map_err(|error| {
            tracing::warn!(%error, "the API server could not be reached");
            Refusal::upstream("the API server could not be reached through the Palisade proxy; try again")
        })
    }

    /// A `get` as `identity`, with `accept`, read whole: one page of a fan-out.
    pub async fn get(
        &self,
        identity: &Identity,
        path_and_query: &str,
        accept: &HeaderValue,
    ) -> Result<(StatusCode, Bytes), Refusal> {
        let response = self.open(identity, path_and_query, accept).await?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), PAGE_LIMIT)
            .collect()
            .await
            .map_err(|_| Refusal::upstream("the API server's answer was cut off or too large"))?
            .to_bytes();
        Ok((status, body))
    }

    /// A `get` as `identity` whose body is streamed (a watch).
    pub async fn open(
        &self,
        identity: &Identity,
        path_and_query: &str,
        accept: &HeaderValue,
    ) -> Result<Response<Body>, Refusal> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept.clone());
        identity.impersonate(&mut headers)?;
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path_and_query)
            .body(Body::empty())
            .map_err(|_| Refusal::bad_request("the request cannot be forwarded: its path is not a valid URI"))?;
        *request.headers_mut() = headers;
        self.send(request).await
    }
}
