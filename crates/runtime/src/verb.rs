//! The verb of an HTTP request to the Kubernetes API, as the API server names it, for the
//! metrics of every verb that talks to it (the controller's client, the proxy's server).

/// `get`, `watch`, `create`, `update`, `patch`, `delete` or `other`.
pub fn verb_of(method: &http::Method, query: &str) -> &'static str {
    let watching = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .any(|(key, value)| key == "watch" && !matches!(value, "false" | "0" | ""));
    match *method {
        http::Method::GET if watching => "watch",
        http::Method::GET => "get",
        http::Method::POST => "create",
        http::Method::PUT => "update",
        http::Method::PATCH => "patch",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_named_as_the_api_server_names_them() {
        let cases = [
            (http::Method::GET, "labelSelector=x&watch=true", "watch"),
            (http::Method::GET, "watch=1", "watch"),
            (http::Method::GET, "watch=false", "get"),
            (http::Method::GET, "watch=0&limit=5", "get"),
            (http::Method::GET, "labelSelector=x", "get"),
            (http::Method::PATCH, "fieldManager=palisade", "patch"),
            (http::Method::PUT, "", "update"),
            (http::Method::DELETE, "", "delete"),
            (http::Method::POST, "", "create"),
            (http::Method::OPTIONS, "", "other"),
        ];
        for (method, query, want) in cases {
            assert_eq!(verb_of(&method, query), want, "{method} ?{query}");
        }
    }
}
