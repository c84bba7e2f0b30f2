//! The bucket as a local directory: `DIR/bucket/pool/...`, `DIR/bucket/dists/...`,
//! so it can be served over HTTP or used by apt as a `file:` repository.
//!
//! Every write goes to a temporary file in the target directory, is synced,
//! then renamed into place (overwrite) or hard-linked into place (create:
//! the link fails if the name exists, so two writers cannot both win).
//! A copy is a hard link to the same file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::store::{BlobStore, BucketSetup, ObjectInfo, PutMode, StoreError, StoreResult};

pub struct DirBucket {
    root: PathBuf,
}

impl DirBucket {
    pub fn new(root: impl Into<PathBuf>) -> DirBucket {
        DirBucket { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a key. Keys are relative paths of plain components: no
    /// `..`, no root, so no key can leave the bucket directory.
    fn path(&self, key: &str) -> StoreResult<PathBuf> {
        let plain = !key.is_empty()
            && key.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && !seg.contains('\\')
                    && !seg.contains('\0')
            });
        if !plain {
            return Err(StoreError::Backend(format!("invalid object key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    /// Writes through a synced temporary file, then moves it into place.
    fn write_with(
        &self,
        key: &str,
        mode: PutMode,
        fill: &mut dyn FnMut(&mut fs::File) -> io::Result<()>,
    ) -> StoreResult<()> {
        let dest = self.path(key)?;
        let dir = dest.parent().expect("a key has a parent directory");
        fs::create_dir_all(dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        // Temporary files are created 0600; the bucket is meant to be served
        // (a web server, apt's file: method as another user), so objects are
        // world-readable like S3 objects behind a public-read policy.
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(|e| {
                StoreError::io(format!("creating a temporary file in {}", dir.display()), e)
            })?;
        fill(tmp.as_file_mut())
            .and_then(|_| tmp.as_file_mut().sync_all())
            .map_err(|e| StoreError::io(format!("writing {}", dest.display()), e))?;
        let result = match mode {
            PutMode::Overwrite => tmp.persist(&dest).map(|_| ()),
            PutMode::Create => tmp.persist_noclobber(&dest).map(|_| ()),
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                Err(StoreError::Exists(key.to_string()))
            }
            Err(e) => Err(StoreError::io(
                format!("moving {} into place", dest.display()),
                e.error,
            )),
        }
    }
}

impl BlobStore for DirBucket {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn apt_url(&self) -> String {
        format!("file:{}", self.root.display())
    }

    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn setup(&self, _opts: &BucketSetup) -> StoreResult<()> {
        fs::create_dir_all(&self.root)
            .map_err(|e| StoreError::io(format!("creating {}", self.root.display()), e))
    }

    fn checkup(&self) -> StoreResult<Vec<String>> {
        if !self.root.is_dir() {
            return Err(StoreError::NotFound(format!(
                "{} (run setup)",
                self.root.display()
            )));
        }
        // Create and drop a temporary file: proves write access, leaves nothing.
        tempfile::Builder::new()
            .prefix(".tmp-checkup-")
            .tempfile_in(&self.root)
            .map_err(|e| StoreError::io(format!("{} is not writable", self.root.display()), e))?;
        Ok(vec![format!(
            "bucket directory {} is writable",
            self.root.display()
        )])
    }

    fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StoreResult<()> {
        let mut src = fs::File::open(path)
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
        self.write_with(key, mode, &mut |f| io::copy(&mut src, f).map(|_| ()))
    }

    fn put_bytes(&self, key: &str, bytes: &[u8], mode: PutMode) -> StoreResult<()> {
        self.write_with(key, mode, &mut |f| f.write_all(bytes))
    }

    fn read(&self, key: &str, out: &mut dyn Write) -> StoreResult<()> {
        let path = self.path(key)?;
        let mut f = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(key.to_string()))
            }
            Err(e) => return Err(StoreError::io(format!("opening {}", path.display()), e)),
        };
        io::copy(&mut f, out)
            .map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
        Ok(())
    }

    fn head(&self, key: &str) -> StoreResult<Option<u64>> {
        match fs::metadata(self.path(key)?) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(format!("reading metadata of {key}"), e)),
        }
    }

    /// A hard link: objects are never changed in place (a put replaces the
    /// name with a new file), so a link behaves as a copy, and costs neither
    /// the bytes nor a sync. Where linking is impossible (another
    /// filesystem mounted inside the bucket), the bytes are copied.
    fn copy(&self, from: &str, to: &str, mode: PutMode) -> StoreResult<()> {
        let src = self.path(from)?;
        if !src.is_file() {
            return Err(StoreError::NotFound(from.to_string()));
        }
        let dest = self.path(to)?;
        let dir = dest.parent().expect("a key has a parent directory");
        fs::create_dir_all(dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        let linked = match mode {
            PutMode::Create => fs::hard_link(&src, &dest),
            PutMode::Overwrite => tempfile::Builder::new()
                .prefix(".tmp-")
                .make_in(dir, |tmp| fs::hard_link(&src, tmp))
                .and_then(|tmp| tmp.persist(&dest).map_err(|e| e.error)),
        };
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(StoreError::Exists(to.to_string()))
            }
            Err(_) => self.put_file(to, &src, mode),
        }
    }

    fn list(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        walk(&self.root, "", &mut out)
            .map_err(|e| StoreError::io(format!("listing {}", self.root.display()), e))?;
        out.retain(|o| o.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        match fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(key.to_string()))
            }
            Err(e) => Err(StoreError::io(format!("deleting {key}"), e)),
        }
    }
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<ObjectInfo>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            continue; // a write in progress
        }
        let key = format!("{prefix}{name}");
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(&entry.path(), &format!("{key}/"), out)?;
        } else {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64);
            out.push(ObjectInfo {
                key,
                size: meta.len(),
                modified,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_is_write_once_and_overwrite_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path());
        b.put_bytes("pool/a/b", b"one", PutMode::Create).unwrap();
        assert!(matches!(
            b.put_bytes("pool/a/b", b"two", PutMode::Create),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(b.get("pool/a/b").unwrap().unwrap(), b"one");
        b.put_bytes("pool/a/b", b"three", PutMode::Overwrite)
            .unwrap();
        assert_eq!(b.get("pool/a/b").unwrap().unwrap(), b"three");
        assert_eq!(b.head("pool/a/b").unwrap(), Some(5));
        assert_eq!(b.head("pool/a/c").unwrap(), None);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("pool/a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "objects are readable by a web server");
        let keys: Vec<String> = b
            .list("pool/")
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["pool/a/b"]);
    }

    #[test]
    fn a_copy_keeps_its_bytes_when_the_source_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path());
        b.put_bytes("dists/a", b"old", PutMode::Create).unwrap();
        b.copy("dists/a", "dists/by-hash/x", PutMode::Create)
            .unwrap();
        b.copy("dists/a", "dists/by-hash/y", PutMode::Overwrite)
            .unwrap();
        b.copy("dists/a", "dists/by-hash/y", PutMode::Overwrite)
            .unwrap();
        assert!(matches!(
            b.copy("dists/a", "dists/by-hash/x", PutMode::Create),
            Err(StoreError::Exists(_))
        ));
        assert!(matches!(
            b.copy("dists/none", "dists/z", PutMode::Create),
            Err(StoreError::NotFound(_))
        ));
        b.put_bytes("dists/a", b"new", PutMode::Overwrite).unwrap();
        assert_eq!(b.get("dists/a").unwrap().unwrap(), b"new");
        assert_eq!(b.get("dists/by-hash/x").unwrap().unwrap(), b"old");
        assert_eq!(b.get("dists/by-hash/y").unwrap().unwrap(), b"old");
        let keys: Vec<String> = b.list("").unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["dists/a", "dists/by-hash/x", "dists/by-hash/y"]);
    }

    #[test]
    fn keys_cannot_leave_the_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path().join("bucket"));
        for key in ["../x", "/etc/passwd", "pool/../../x", "", "pool/./x"] {
            assert!(b.put_bytes(key, b"x", PutMode::Overwrite).is_err(), "{key}");
        }
        assert!(!dir.path().join("x").exists());
    }

    #[test]
    fn concurrent_creates_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let b = std::sync::Arc::new(DirBucket::new(dir.path()));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let b = b.clone();
                std::thread::spawn(move || {
                    b.put_bytes("k/x", format!("{i}").as_bytes(), PutMode::Create)
                        .is_ok()
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|w| *w)
            .count();
        assert_eq!(wins, 1);
    }
}
