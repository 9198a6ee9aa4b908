//! Container image references in the fully qualified form registries are compared in.

/// `nginx` → `docker.io/library/nginx`, `team/app:1` → `docker.io/team/app:1`,
/// `registry.example.com/app` unchanged: the first path component names a registry only when it
/// looks like a host (has a `.` or `:`, or is `localhost`), as container runtimes decide.
pub fn normalize_image(image: &str) -> String {
    let image = image.trim();
    let (first, rest) = match image.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (image, None),
    };
    match rest {
        None => format!("docker.io/library/{image}"),
        Some(_) if first.contains('.') || first.contains(':') || first == "localhost" => image.to_string(),
        Some(_) => format!("docker.io/{image}"),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_image;

    #[test]
    fn images_are_fully_qualified() {
        for (input, expected) in [
            ("nginx", "docker.io/library/nginx"),
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            ("bitnami/redis", "docker.io/bitnami/redis"),
            (
                "registry.example.com/payments/api:1",
                "registry.example.com/payments/api:1",
            ),
            ("localhost/app", "localhost/app"),
            ("localhost:5000/app", "localhost:5000/app"),
            ("ghcr.io/org/app@sha256:abc", "ghcr.io/org/app@sha256:abc"),
        ] {
            assert_eq!(normalize_image(input), expected, "{input}");
        }
    }
}
