//! What each key in the bucket is, as far as readers care: the Content-Type
//! it is served with (S3 stores it with the object; `serve` sends the same)
//! and the Cache-Control a CDN or proxy in front of the bucket obeys.

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
    } else if name.ends_with(".json") || key.starts_with("backups/") && name.ends_with(".info") {
        "application/json"
    } else {
        "binary/octet-stream"
    }
}

/// `dists/.../by-hash/<Algo>/<digest>`: a name that says nothing of the kind.
pub fn is_by_hash(key: &str) -> bool {
    key.contains("/by-hash/")
}

/// The Content-Type of an object from its key, and for a by-hash name from
/// its first bytes: by-hash holds only indices, gzipped or plain text.
pub fn content_type_of(key: &str, head: &[u8]) -> &'static str {
    if !is_by_hash(key) {
        content_type(key)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        "application/gzip"
    } else {
        "text/plain"
    }
}

/// Cache-Control of objects whose bytes never change under their name:
/// pool files (write-once) and by-hash files (named by their digest).
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Default Cache-Control of the names a publish replaces (Release,
/// InRelease, Release.gpg, the plain index names, leaf Releases): short, so
/// a cache never pairs an old Release with new indices for long.
pub const CACHE_INDICES: &str = "public, max-age=60, must-revalidate";

/// Cache-Control of everything else (backups, the publish's own records):
/// nothing a client of the repository reads, never cached.
pub const CACHE_PRIVATE: &str = "no-store";

/// The Cache-Control of an object, from its key; `indices` is the policy
/// for the names a publish replaces (setting `cache-control-indices`).
pub fn cache_control<'a>(key: &str, indices: &'a str) -> &'a str {
    let name = key.rsplit('/').next().unwrap_or(key);
    if key.starts_with("pool/") || is_by_hash(key) {
        CACHE_IMMUTABLE
    } else if key.starts_with("dists/")
        && matches!(
            name,
            "Release"
                | "InRelease"
                | "Release.gpg"
                | "Packages"
                | "Packages.gz"
                | "Sources"
                | "Sources.gz"
        )
    {
        indices
    } else {
        CACHE_PRIVATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_follows_the_kind() {
        let short = "max-age=5";
        for key in [
            "pool/main/h/hello/hello_1_amd64.deb",
            "pool/main/h/hello/hello_1.dsc",
            "dists/x/main/binary-amd64/by-hash/SHA512/0a1b",
        ] {
            assert_eq!(cache_control(key, short), CACHE_IMMUTABLE, "{key}");
        }
        for key in [
            "dists/x/Release",
            "dists/x/InRelease",
            "dists/x/Release.gpg",
            "dists/x/main/binary-amd64/Packages",
            "dists/x/main/binary-amd64/Packages.gz",
            "dists/x/main/source/Sources.gz",
            "dists/x/main/source/Release",
        ] {
            assert_eq!(cache_control(key, short), short, "{key}");
        }
        assert_eq!(
            cache_control("backups/local/1.json.gz", short),
            CACHE_PRIVATE
        );
    }

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
        assert_eq!(
            content_type("backups/local/20260102T030405Z.info"),
            "application/json"
        );
    }

    #[test]
    fn by_hash_objects_are_typed_by_their_bytes() {
        let k = "dists/x/main/binary-amd64/by-hash/SHA512/0a1b";
        assert_eq!(content_type_of(k, &[0x1f, 0x8b, 8]), "application/gzip");
        assert_eq!(content_type_of(k, b"Package: a\n"), "text/plain");
        assert_eq!(
            content_type_of("dists/x/main/binary-amd64/Packages.gz", b"x"),
            "application/gzip"
        );
    }
}
