//! Which requests get a filtered view: a `get` (list or watch) of a whole collection at
//! cluster scope, `/api/v1/<resource>` or `/apis/<group>/<version>/<resource>`. Everything
//! else (a named object, a namespaced path, a write, a subresource, discovery) passes through
//! as the user, and the API server answers it as it would directly.

use http::Method;

/// A cluster-wide collection read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collection {
    /// `/api/v1` or `/apis/<group>/<version>`.
    pub prefix: String,
    pub group: String,
    pub resource: String,
    pub watch: bool,
    /// The query, decoded, in order.
    pub query: Vec<(String, String)>,
}

impl Collection {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The collection a request reads, if it is a cluster-wide list or watch.
pub fn collection(method: &Method, path: &str, query: Option<&str>) -> Option<Collection> {
    if method != Method::GET {
        return None;
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, group, resource) = match parts.as_slice() {
        ["api", "v1", resource] => ("/api/v1".to_string(), String::new(), *resource),
        ["apis", group, version, resource] => (format!("/apis/{group}/{version}"), group.to_string(), *resource),
        _ => return None,
    };
    if resource.is_empty() {
        return None;
    }
    let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let watch = query
        .iter()
        .find(|(k, _)| k == "watch")
        .is_some_and(|(_, v)| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"));
    Some(Collection {
        prefix,
        group,
        resource: resource.to_string(),
        watch,
        query,
    })
}

/// Encodes a query for an upstream request.
pub fn encode_query(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_and_everything_else() {
        let get = Method::GET;
        let ns = collection(&get, "/api/v1/namespaces", Some("watch=true&labelSelector=a%3Db")).unwrap();
        assert_eq!(
            (ns.prefix.as_str(), ns.resource.as_str(), ns.watch),
            ("/api/v1", "namespaces", true)
        );
        assert_eq!(ns.param("labelSelector"), Some("a=b"));
        let tenants = collection(&get, "/apis/palisade.dev/v1alpha1/tenants", None).unwrap();
        assert_eq!((tenants.group.as_str(), tenants.watch), ("palisade.dev", false));
        assert!(!collection(&get, "/api/v1/pods", Some("watch=0")).unwrap().watch);
        for other in [
            "/api/v1/namespaces/team-a",
            "/api/v1/namespaces/team-a/pods",
            "/api/v1/watch/namespaces",
            "/apis/apps/v1",
            "/api",
            "/version",
            "/apis/palisade.dev/v1alpha1/tenants/a/status",
        ] {
            assert_eq!(collection(&get, other, None), None, "{other}");
        }
        assert_eq!(collection(&Method::POST, "/api/v1/namespaces", None), None);
        assert_eq!(collection(&Method::DELETE, "/api/v1/pods", None), None);
    }

    #[test]
    fn queries_round_trip() {
        let pairs = vec![(
            "fieldSelector".to_string(),
            "metadata.name=a,status.phase!=x".to_string(),
        )];
        let encoded = encode_query(&pairs);
        let parsed = collection(&Method::GET, "/api/v1/pods", Some(&encoded)).unwrap();
        assert_eq!(parsed.query, pairs);
    }
}
