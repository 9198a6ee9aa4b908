//! Pass-through: the request as the client sent it (less its credentials and hop-by-hop
//! headers), made as the user, and the API server's answer streamed back; a protocol switch
//! (exec, attach, port-forward) becomes two byte pipes joined until either side closes.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::Proxy;
use crate::body::{ProxyBody, boxed, empty};
use crate::headers::downstream_response_headers;
use crate::status::Refusal;

/// The largest request body passed on; the API server's own limit is 3 MiB.
const REQUEST_BODY_LIMIT: usize = 3 * 1024 * 1024;

pub async fn forward(
    proxy: &Proxy,
    mut request: Request<Incoming>,
    headers: http::HeaderMap,
    upgrade: bool,
) -> Result<Response<ProxyBody>, Refusal> {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let (parts, body) = request.into_parts();
    let body: Bytes = http_body_util::Limited::new(body, REQUEST_BODY_LIMIT)
        .collect()
        .await
        .map_err(|error| {
            if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Refusal::too_large(format!(
                    "the request body is larger than {} MiB, which the API server would refuse too",
                    REQUEST_BODY_LIMIT / (1024 * 1024)
                ))
            } else {
                Refusal::bad_request("the request body could not be read")
            }
        })?
        .to_bytes();
    let mut upstream = Request::builder()
        .method(parts.method)
        .uri(path_and_query)
        .body(kube::client::Body::from(body))
        .map_err(|_| Refusal::bad_request("the request path is not a valid URI"))?;
    *upstream.headers_mut() = headers;
    let mut response = proxy.upstream.send(upstream).await?;
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let head = downstream_response_headers(response.headers(), switching);
    if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (client, upstream) = match tokio::join!(client_upgrade, upstream_upgrade) {
                (Ok(client), Ok(upstream)) => (client, upstream),
                _ => return,
            };
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
        let mut answer = Response::new(empty());
        *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *answer.headers_mut() = head;
        return Ok(answer);
    }
    let status = response.status();
    let mut answer = Response::new(boxed(response.into_body()));
    *answer.status_mut() = status;
    *answer.headers_mut() = head;
    Ok(answer)
}
