//! What each key in the bucket is, as far as readers care: the Content-Type
//! it is served with (S3 stores it with the object; `serve` sends the same).

/// The Content-Type of an object, from its key.
pub fn content_type(key: &str) -> &'static str {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".deb") || name.ends_with(".udeb") {
        "application/vnd.debian.binary-package"
    } else if matches!(
        name,
        "Release" | "InRelease" | "Release.gpg" | "Packages" | "Sources" | "Index"
    ) || name.ends_with(".dsc")
    {
        "text/plain"
    } else if name.ends_with(".html") {
        "text/html"
    } else if name.ends_with(".json") {
        "application/json"
    } else {
        "binary/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_name() {
        assert_eq!(
            content_type("pool/main/h/hello/hello_1_amd64.deb"),
            "application/vnd.debian.binary-package"
        );
        assert_eq!(
            content_type("dists/x/main/binary-amd64/Packages.gz"),
            "application/gzip"
        );
        assert_eq!(
            content_type("dists/x/main/binary-amd64/Packages"),
            "text/plain"
        );
        assert_eq!(content_type("dists/x/InRelease"), "text/plain");
        assert_eq!(
            content_type("pool/x/h/hello/hello_1.orig.tar.xz"),
            "binary/octet-stream"
        );
    }
}
