//! Container image references, parsed with the grammar of the distribution project (the one
//! container runtimes resolve images with), and registry allow-list entries compared with them
//! component by component — never as string prefixes, which `..`, `//`, `%2f` and
//! `registry.example.com.evil.io` walk straight through.
//!
//! ```text
//!   reference   := name [ ":" tag ] [ "@" digest ]
//!   name        := [ domain "/" ] path-component ( "/" path-component )*
//!   domain      := host [ ":" port ]          host: DNS labels joined by ".", or "[" IPv6 "]"
//!   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//!   tag         := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//!   digest      := algorithm ":" [A-Fa-f0-9]{32,}
//! ```
//!
//! The first component is a registry only when it looks like a host (has a `.` or a `:`, or is
//! `localhost`); otherwise the image is on Docker Hub (`nginx` is `docker.io/library/nginx`,
//! and `index.docker.io` is `docker.io`), as runtimes decide.

/// An image reference, normalized: lower-case registry host, Docker Hub spelled `docker.io`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub domain: String,
    pub path: Vec<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// `domain/path[:tag][@digest]`.
    pub fn qualified(&self) -> String {
        let mut text = format!("{}/{}", self.domain, self.path.join("/"));
        if let Some(tag) = &self.tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            text.push('@');
            text.push_str(digest);
        }
        text
    }

    /// The pull policy the API server sets when a container names none: `Always` for an image
    /// tagged `:latest` or with neither tag nor digest, `IfNotPresent` otherwise.
    pub fn defaulted_pull_policy(&self) -> &'static str {
        match (&self.tag, &self.digest) {
            (Some(tag), _) if tag == "latest" => "Always",
            (None, None) => "Always",
            _ => "IfNotPresent",
        }
    }
}

/// Parses an image reference; the error says which part is wrong.
pub fn parse_image(reference: &str) -> Result<ImageRef, String> {
    if reference.is_empty() {
        return Err("the image is empty".to_string());
    }
    if reference.len() > 4096 || reference.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("the image reference contains whitespace or is too long".to_string());
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => {
            check_digest(digest)?;
            (rest, Some(digest.to_string()))
        }
        None => (reference, None),
    };
    // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let tag = &rest[last_slash + i + 1..];
            check_tag(tag)?;
            (&rest[..last_slash + i], Some(tag.to_string()))
        }
        None => (rest, None),
    };
    if name.len() > 255 {
        return Err("the image name is longer than 255 characters".to_string());
    }
    let (domain, remote) = match name.split_once('/') {
        Some((first, remote)) if looks_like_host(first) => (first.to_ascii_lowercase(), remote),
        _ => ("docker.io".to_string(), name),
    };
    check_domain(&domain)?;
    let mut path: Vec<String> = Vec::new();
    for component in remote.split('/') {
        check_path_component(component)?;
        path.push(component.to_string());
    }
    let domain = if domain == "index.docker.io" {
        "docker.io".to_string()
    } else {
        domain
    };
    if domain == "docker.io" && path.len() == 1 {
        path.insert(0, "library".to_string());
    }
    Ok(ImageRef {
        domain,
        path,
        tag,
        digest,
    })
}

/// The fully qualified form of `image` (`nginx` → `docker.io/library/nginx`), or the image as
/// written when it does not parse.
pub fn normalize_image(image: &str) -> String {
    parse_image(image.trim()).map_or_else(|_| image.to_string(), |parsed| parsed.qualified())
}

fn looks_like_host(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase())
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("registry \"{domain}\" {why}"));
    let (host, port) = if let Some(bracketed) = domain.strip_prefix('[') {
        let Some((v6, after)) = bracketed.split_once(']') else {
            return bad("has an unclosed '['");
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return bad("is not a valid IPv6 address");
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return bad("has text after the IPv6 address"),
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad("has an invalid port");
    }
    if let Some(host) = host {
        for label in host.split('.') {
            let valid = !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !valid {
                return bad("is not a valid host name");
            }
        }
    }
    Ok(())
}

fn check_path_component(component: &str) -> Result<(), String> {
    let invalid = || {
        Err(format!(
            "path component \"{component}\" is not valid: components are lower-case letters and digits, separated by '.', '_', '__' or dashes, and never empty, \".\" or \"..\""
        ))
    };
    let bytes = component.as_bytes();
    if bytes.is_empty() {
        return invalid();
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // alpha-numeric run
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return invalid();
        }
        if i == bytes.len() {
            return Ok(());
        }
        // separator: '.', '_', '__', or one or more '-'
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return invalid(),
        }
    }
}

fn check_tag(tag: &str) -> Result<(), String> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!("tag \"{tag}\" is not valid"))
    }
}

fn check_digest(digest: &str) -> Result<(), String> {
    let invalid = || Err(format!("digest \"{digest}\" is not valid"));
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return invalid();
    };
    let algorithm_ok = algorithm
        .split(['+', '.', '_', '-'])
        .all(|c| c.starts_with(|ch: char| ch.is_ascii_alphabetic()) && c.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !algorithm_ok || encoded.len() < 32 || !encoded.bytes().all(|b| b.is_ascii_hexdigit()) {
        return invalid();
    }
    Ok(())
}

/// An entry of `spec.workloads.registries`: a registry host, optionally followed by path
/// components. With a trailing `/`, images must be strictly below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    pub domain: String,
    pub path: Vec<String>,
    pub strictly_below: bool,
}

/// Parses an allow-list entry; `None` when it is not a registry host with optional path
/// components (such an entry allows nothing).
pub fn parse_registry_entry(entry: &str) -> Option<RegistryEntry> {
    let entry = entry.trim();
    let (body, strictly_below) = match entry.strip_suffix('/') {
        Some(body) => (body, true),
        None => (entry, false),
    };
    let (domain, rest) = match body.split_once('/') {
        Some((domain, rest)) => (domain, Some(rest)),
        None => (body, None),
    };
    let domain = domain.to_ascii_lowercase();
    // A bare word is a host (`localhost`, or a name the platform resolves) only if it has no path;
    // `team/` on its own is not an entry anyone should write, and allows nothing.
    check_domain(&domain).ok()?;
    let mut path = Vec::new();
    for component in rest.into_iter().flat_map(|r| r.split('/')) {
        check_path_component(component).ok()?;
        path.push(component.to_string());
    }
    let domain = if domain == "index.docker.io" {
        "docker.io".to_string()
    } else {
        domain
    };
    Some(RegistryEntry {
        domain,
        path,
        strictly_below,
    })
}

impl RegistryEntry {
    /// Whether `image` is in this registry (and below its path), component by component.
    pub fn allows(&self, image: &ImageRef) -> bool {
        image.domain == self.domain
            && image.path.len() >= self.path.len() + usize::from(self.strictly_below && !self.path.is_empty())
            && image.path.iter().zip(&self.path).all(|(a, b)| a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_fully_qualified() {
        for (input, expected) in [
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            ("bitnami/redis", "docker.io/bitnami/redis"),
            ("index.docker.io/bitnami/redis", "docker.io/bitnami/redis"),
            (
                "registry.example.com/payments/api:1",
                "registry.example.com/payments/api:1",
            ),
            ("Registry.Example.com/payments/api", "registry.example.com/payments/api"),
            ("localhost/app", "localhost/app"),
            ("localhost:5000/app", "localhost:5000/app"),
            ("[::1]:5000/app:v1", "[::1]:5000/app:v1"),
            (
                "ghcr.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "ghcr.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ),
        ] {
            assert_eq!(normalize_image(input), expected, "{input}");
        }
    }

    #[test]
    fn references_outside_the_grammar_do_not_parse() {
        for bad in [
            "registry.example.com/alpha/../beta/app:1.0",
            "registry.example.com/alpha/./app",
            "registry.example.com/alpha//beta/app",
            "registry.example.com/alpha%2f..%2fbeta/app",
            "registry.example.com/Alpha/app",
            "registry.example.com/alpha/app:",
            "registry.example.com/alpha/app:-x",
            "registry.example.com/alpha/app@sha256:short",
            "registry.example.com/",
            "-registry.example.com/app",
            "registry.example.com:port/app",
            "a b",
            "",
        ] {
            assert!(parse_image(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn registry_entries_compare_components() {
        let image = |s: &str| parse_image(s).unwrap();
        let entry = |s: &str| parse_registry_entry(s).unwrap();
        assert!(entry("registry.example.com").allows(&image("registry.example.com/a/b:1")));
        assert!(!entry("registry.example.com").allows(&image("registry.example.com.evil.io/a/b:1")));
        assert!(!entry("registry.example.com").allows(&image("registry.example.com:5000/a")));
        assert!(entry("registry.example.com/payments/").allows(&image("registry.example.com/payments/api")));
        assert!(!entry("registry.example.com/payments/").allows(&image("registry.example.com/payments")));
        assert!(!entry("registry.example.com/payments/").allows(&image("registry.example.com/payments-evil/api")));
        assert!(entry("registry.example.com/payments").allows(&image("registry.example.com/payments")));
        assert!(!entry("registry.example.com/pay").allows(&image("registry.example.com/payments/api")));
        assert!(entry("docker.io/library/").allows(&image("nginx")));
        assert!(entry("docker.io").allows(&image("bitnami/redis")));
        assert!(parse_registry_entry("registry.example.com/../x/").is_none());
        assert!(parse_registry_entry("registry.example.com//x/").is_none());
    }

    #[test]
    fn pull_policy_defaults_follow_the_tag() {
        let policy = |s: &str| parse_image(s).unwrap().defaulted_pull_policy();
        assert_eq!(policy("nginx"), "Always");
        assert_eq!(policy("nginx:latest"), "Always");
        assert_eq!(policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(
            policy("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            "IfNotPresent"
        );
    }
}
