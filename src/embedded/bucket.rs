//! The bucket as a local directory: `DIR/bucket/pool/...`, `DIR/bucket/dists/...`,
//! so it can be served over HTTP or used by apt as a `file:` repository.
//!
//! Every path beneath the root is resolved one component at a time from a
//! handle on the root directory (`openat` with `O_NOFOLLOW`): a symbolic
//! link anywhere beneath the root, planted there or not, is refused rather
//! than followed, for reads and writes alike, so nothing is ever read from
//! or written outside the bucket. (The root itself may be a link: it is
//! the operator's choice.)
//!
//! Every write goes to a temporary file in the target directory, is synced,
//! then renamed into place (overwrite) or hard-linked into place (create:
//! the link fails if the name exists, so two writers cannot both win).
//! A copy is a hard link to the same file. Objects are 0644 and
//! directories 0755 whatever the caller's umask: the bucket is meant to be
//! served (a web server, apt's file: method as another user), like S3
//! objects behind a public-read policy.
//!
//! A distribution's tree is replaced as one unit (`stage_tree`,
//! `commit_tree`): the new tree is built beside it in a temporary
//! directory that starts as hard links of the current one, then the two
//! directories are exchanged in one `renameat2(RENAME_EXCHANGE)`. A reader
//! (apt over `file:`, a web server) sees the whole old tree or the whole
//! new one, and a publish killed before the exchange leaves the old tree
//! as it was. (A symbolic link to a generation directory would do the same,
//! but the bucket refuses links.)
//!
//! A temporary file is locked (`flock`) by the process writing it. The
//! first write of a process to a directory removes the temporary files
//! there that nobody holds and that are older than a minute: the leftovers
//! of a killed upload.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rustix::fs::{self as rfs, AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::store::{BlobStore, BucketSetup, ObjectInfo, PutMode, StoreError, StoreResult};

/// Modes of what the bucket creates, independent of the umask.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;
/// Names of temporary files; never listed, never valid keys' last part.
const TMP_PREFIX: &str = ".tmp-";
/// A temporary file nobody holds is a leftover once it is this old (a
/// writer locks its file right after creating it).
const LEFTOVER_AGE: Duration = Duration::from_secs(60);

pub struct DirBucket {
    root: PathBuf,
    /// Directories whose leftovers this process has removed already.
    cleaned: Mutex<HashSet<String>>,
    /// Staged trees of this process, each directory held locked (`flock`)
    /// so no other process takes it for a leftover.
    staged: Mutex<HashMap<String, OwnedFd>>,
}

/// An open directory beneath the root and its key prefix (for messages).
struct Dir {
    fd: OwnedFd,
    key: String,
}

fn nofollow_dir() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

impl DirBucket {
    pub fn new(root: impl Into<PathBuf>) -> DirBucket {
        DirBucket {
            root: root.into(),
            cleaned: Mutex::new(HashSet::new()),
            staged: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A key's directory components and base name. Keys are relative paths
    /// of plain components: no `..`, no root, no temporary-file name.
    fn split(key: &str) -> StoreResult<(Vec<&str>, &str)> {
        let plain = !key.is_empty()
            && key.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && !seg.contains('\\')
                    && !seg.contains('\0')
            });
        let mut segs: Vec<&str> = key.split('/').collect();
        let name = segs.pop().unwrap_or("");
        if !plain || name.starts_with(TMP_PREFIX) {
            return Err(StoreError::Backend(format!("invalid object key {key:?}")));
        }
        Ok((segs, name))
    }

    fn io_err(&self, what: &str, key: &str, e: impl Into<io::Error>) -> StoreError {
        StoreError::io(
            format!("{what} {}", self.root.join(key).display()),
            e.into(),
        )
    }

    /// Opens the directory `segs` beneath the root without following any
    /// link; with `create`, missing directories are made (0755). `None`
    /// when a directory does not exist (and `create` is off).
    fn open_dir(&self, segs: &[&str], create: bool) -> StoreResult<Option<Dir>> {
        let open_root = || {
            rfs::openat(
                rfs::CWD,
                &self.root,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let mut root = open_root();
        if create && matches!(root, Err(Errno::NOENT)) {
            self.setup(&BucketSetup::default())?;
            root = open_root();
        }
        let mut fd = root.map_err(|e| match e {
            Errno::NOENT => StoreError::NotFound(format!("{} (run setup)", self.root.display())),
            e => self.io_err("opening", "", e),
        })?;
        let mut key = String::new();
        for seg in segs {
            if !key.is_empty() {
                key.push('/');
            }
            key.push_str(seg);
            let mut opened = rfs::openat(&fd, *seg, nofollow_dir(), Mode::empty());
            if matches!(opened, Err(Errno::NOENT)) {
                if !create {
                    return Ok(None);
                }
                match rfs::mkdirat(&fd, *seg, Mode::from_raw_mode(DIR_MODE)) {
                    Ok(()) => {
                        opened = rfs::openat(&fd, *seg, nofollow_dir(), Mode::empty());
                        if let Ok(d) = &opened {
                            rfs::fchmod(d, Mode::from_raw_mode(DIR_MODE))
                                .map_err(|e| self.io_err("setting the mode of", &key, e))?;
                        }
                    }
                    Err(Errno::EXIST) => {
                        opened = rfs::openat(&fd, *seg, nofollow_dir(), Mode::empty())
                    }
                    Err(e) => return Err(self.io_err("creating", &key, e)),
                }
            }
            fd = match opened {
                Ok(d) => d,
                Err(Errno::LOOP | Errno::NOTDIR) => return Err(self.not_plain(&key)),
                Err(e) => return Err(self.io_err("opening", &key, e)),
            };
        }
        Ok(Some(Dir { fd, key }))
    }

    fn not_plain(&self, key: &str) -> StoreError {
        StoreError::Backend(format!(
            "{} is a symbolic link or not a directory; the bucket does not follow links",
            self.root.join(key).display()
        ))
    }

    /// Opens an object for reading, refusing a link or anything but a
    /// regular file; `None` when absent.
    fn open_object(&self, key: &str) -> StoreResult<Option<(Dir, String, fs::File)>> {
        let (segs, name) = Self::split(key)?;
        let Some(dir) = self.open_dir(&segs, false)? else {
            return Ok(None);
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = match rfs::openat(&dir.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err(self.not_regular(key)),
            Err(e) => return Err(self.io_err("opening", key, e)),
        };
        let st = rfs::fstat(&fd).map_err(|e| self.io_err("reading metadata of", key, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(self.not_regular(key));
        }
        Ok(Some((dir, name.to_string(), fs::File::from(fd))))
    }

    /// Opens an object for reading with the same rules as every other
    /// access (no link followed, regular files only); `None` when absent.
    pub fn open_file(&self, key: &str) -> StoreResult<Option<fs::File>> {
        Ok(self.open_object(key)?.map(|(_, _, f)| f))
    }

    fn not_regular(&self, key: &str) -> StoreError {
        StoreError::Backend(format!(
            "{} is a symbolic link or not a regular file; the bucket does not follow links",
            self.root.join(key).display()
        ))
    }

    /// Removes the temporary files in `dir` that nobody holds and that are
    /// older than [`LEFTOVER_AGE`], once per directory and process.
    fn clean_leftovers(&self, dir: &Dir) {
        if !self
            .cleaned
            .lock()
            .expect("not poisoned")
            .insert(dir.key.clone())
        {
            return;
        }
        let Ok(entries) = rfs::Dir::read_from(&dir.fd) else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        for entry in entries.flatten() {
            let name = OsStr::from_bytes(entry.file_name().to_bytes()).to_owned();
            if !name.as_bytes().starts_with(TMP_PREFIX.as_bytes()) {
                continue;
            }
            let Ok(fd) = rfs::openat(&dir.fd, name.as_os_str(), flags, Mode::empty()) else {
                continue;
            };
            let old =
                rfs::fstat(&fd).is_ok_and(|st| now - st.st_mtime >= LEFTOVER_AGE.as_secs() as i64);
            if old && rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok() {
                let _ = rfs::unlinkat(&dir.fd, name.as_os_str(), AtFlags::empty());
            }
        }
    }

    /// Creates a locked temporary file (mode 0644) in `dir`.
    fn temp_file(&self, dir: &Dir) -> StoreResult<(String, fs::File)> {
        loop {
            let name = temp_name();
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rfs::openat(
                &dir.fd,
                name.as_str(),
                flags,
                Mode::from_raw_mode(FILE_MODE),
            ) {
                Ok(fd) => {
                    rfs::flock(&fd, FlockOperation::LockExclusive)
                        .and_then(|_| rfs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE)))
                        .map_err(|e| self.io_err("preparing a temporary file in", &dir.key, e))?;
                    return Ok((name, fs::File::from(fd)));
                }
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(self.io_err("creating a temporary file in", &dir.key, e)),
            }
        }
    }

    /// Writes through a synced temporary file, then moves it into place.
    fn write_with(
        &self,
        key: &str,
        mode: PutMode,
        fill: &mut dyn FnMut(&mut fs::File) -> io::Result<()>,
    ) -> StoreResult<()> {
        let (segs, name) = Self::split(key)?;
        let dir = self.open_dir(&segs, true)?.expect("created");
        self.clean_leftovers(&dir);
        let (tmp, mut file) = self.temp_file(&dir)?;
        let result = fill(&mut file)
            .and_then(|_| file.sync_all())
            .map_err(|e| self.io_err("writing", key, e))
            .and_then(|_| self.place(&dir, &tmp, name, key, mode));
        // After a rename the name is gone; after a link, or on an error,
        // it is removed here.
        let _ = rfs::unlinkat(&dir.fd, tmp.as_str(), AtFlags::empty());
        result
    }

    /// Moves temporary `tmp` to `name` in `dir`: a rename (overwrite) or a
    /// link that fails on an existing name (create).
    fn place(&self, dir: &Dir, tmp: &str, name: &str, key: &str, mode: PutMode) -> StoreResult<()> {
        let done = match mode {
            PutMode::Overwrite => rfs::renameat(&dir.fd, tmp, &dir.fd, name),
            PutMode::Create => rfs::linkat(&dir.fd, tmp, &dir.fd, name, AtFlags::empty()),
        };
        match done {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Err(StoreError::Exists(key.to_string())),
            Err(Errno::ISDIR) => Err(self.not_regular(key)),
            Err(e) => Err(self.io_err("moving into place", key, e)),
        }
    }
}

/// Makes `dst` a copy of the tree in `src` of hard links (real directories
/// and regular files only; temporary names skipped).
fn link_tree(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    for entry in rfs::Dir::read_from(src)? {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." || bytes.starts_with(TMP_PREFIX.as_bytes()) {
            continue;
        }
        let st = match rfs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                rfs::mkdirat(dst, name, Mode::from_raw_mode(DIR_MODE))?;
                let sub_dst = rfs::openat(dst, name, nofollow_dir(), Mode::empty())?;
                rfs::fchmod(&sub_dst, Mode::from_raw_mode(DIR_MODE))?;
                let sub_src = rfs::openat(src, name, nofollow_dir(), Mode::empty())?;
                link_tree(&sub_src, &sub_dst)?;
            }
            FileType::RegularFile => rfs::linkat(src, name, dst, name, AtFlags::empty())?,
            _ => {}
        }
    }
    Ok(())
}

/// Removes directory `name` in `parent` and everything beneath it,
/// following no link.
fn remove_tree(parent: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let dir = match rfs::openat(parent, name, nofollow_dir(), Mode::empty()) {
        Ok(d) => d,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in rfs::Dir::read_from(&dir)? {
        let entry = entry?;
        let child = OsStr::from_bytes(entry.file_name().to_bytes()).to_owned();
        if child == "." || child == ".." {
            continue;
        }
        match rfs::statat(&dir, child.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                remove_tree(&dir, &child)?
            }
            Ok(_) => rfs::unlinkat(&dir, child.as_os_str(), AtFlags::empty())?,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match rfs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A fresh temporary name.
fn temp_name() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{TMP_PREFIX}{n:016x}")
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
        if self.root.is_dir() {
            return Ok(());
        }
        fs::create_dir_all(&self.root)
            .and_then(|_| {
                fs::set_permissions(
                    &self.root,
                    std::os::unix::fs::PermissionsExt::from_mode(DIR_MODE),
                )
            })
            .map_err(|e| StoreError::io(format!("creating {}", self.root.display()), e))
    }

    fn checkup(&self) -> StoreResult<Vec<String>> {
        let root = self.open_dir(&[], false)?.expect("the root exists");
        // Create and drop a temporary file: proves write access, leaves nothing.
        let (tmp, _file) = self.temp_file(&root).map_err(|e| {
            StoreError::Backend(format!("{} is not writable: {e}", self.root.display()))
        })?;
        let _ = rfs::unlinkat(&root.fd, tmp.as_str(), AtFlags::empty());
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
        let Some((_, _, mut f)) = self.open_object(key)? else {
            return Err(StoreError::NotFound(key.to_string()));
        };
        io::copy(&mut f, out).map_err(|e| self.io_err("reading", key, e))?;
        Ok(())
    }

    fn head(&self, key: &str) -> StoreResult<Option<u64>> {
        let (segs, name) = Self::split(key)?;
        let Some(dir) = self.open_dir(&segs, false)? else {
            return Ok(None);
        };
        match rfs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                Ok(Some(st.st_size as u64))
            }
            Ok(_) | Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(self.io_err("reading metadata of", key, e)),
        }
    }

    /// A hard link: objects are never changed in place (a put replaces the
    /// name with a new file), so a link behaves as a copy, and costs neither
    /// the bytes nor a sync. Where linking is impossible (another
    /// filesystem mounted inside the bucket), the bytes are copied.
    fn copy(&self, from: &str, to: &str, mode: PutMode) -> StoreResult<()> {
        let Some((src_dir, src_name, mut src)) = self.open_object(from)? else {
            return Err(StoreError::NotFound(from.to_string()));
        };
        // Held while the source has a temporary name in the destination:
        // the leftover sweep of another process skips a locked file.
        rfs::flock(src.as_fd(), FlockOperation::LockShared)
            .map_err(|e| self.io_err("locking", from, e))?;
        let (segs, name) = Self::split(to)?;
        let dir = self.open_dir(&segs, true)?.expect("created");
        self.clean_leftovers(&dir);
        let linked = match mode {
            PutMode::Create => rfs::linkat(
                &src_dir.fd,
                src_name.as_str(),
                &dir.fd,
                name,
                AtFlags::empty(),
            ),
            PutMode::Overwrite => {
                let same =
                    |a: &rfs::Stat, b: &rfs::Stat| a.st_dev == b.st_dev && a.st_ino == b.st_ino;
                let src_stat = rfs::fstat(src.as_fd())
                    .map_err(|e| self.io_err("reading metadata of", from, e))?;
                match rfs::statat(&dir.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    // Already this very file: renaming a link of a file onto
                    // another link of it is a no-op that would leave the
                    // temporary name behind.
                    Ok(st) if same(&st, &src_stat) => return Ok(()),
                    _ => {}
                }
                let tmp = temp_name();
                let r = rfs::linkat(
                    &src_dir.fd,
                    src_name.as_str(),
                    &dir.fd,
                    tmp.as_str(),
                    AtFlags::empty(),
                )
                .and_then(|_| rfs::renameat(&dir.fd, tmp.as_str(), &dir.fd, name));
                // Gone after a rename, unless the destination had become
                // the same file meanwhile; removed either way.
                let _ = rfs::unlinkat(&dir.fd, tmp.as_str(), AtFlags::empty());
                r
            }
        };
        match linked {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Err(StoreError::Exists(to.to_string())),
            Err(Errno::XDEV) => {
                self.write_with(to, mode, &mut |f| io::copy(&mut src, f).map(|_| ()))
            }
            Err(e) => Err(self.io_err("linking", to, e)),
        }
    }

    fn stage_tree(&self, prefix: &str) -> StoreResult<Option<String>> {
        let (segs, name) = Self::split(prefix)?;
        let parent = self.open_dir(&segs, true)?.expect("created");
        // Trees staged by killed publishes: nobody holds their lock.
        let stale = format!("{TMP_PREFIX}{name}-");
        if let Ok(entries) = rfs::Dir::read_from(&parent.fd) {
            for entry in entries.flatten() {
                let n = OsStr::from_bytes(entry.file_name().to_bytes()).to_owned();
                if !n.as_bytes().starts_with(stale.as_bytes()) {
                    continue;
                }
                if let Ok(fd) =
                    rfs::openat(&parent.fd, n.as_os_str(), nofollow_dir(), Mode::empty())
                {
                    if rfs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok() {
                        remove_tree(&parent.fd, &n).map_err(|e| {
                            self.io_err("removing a stale staged tree in", &parent.key, e)
                        })?;
                    }
                }
            }
        }
        let staging = format!("{stale}{}", &temp_name()[TMP_PREFIX.len()..]);
        let key = if parent.key.is_empty() {
            staging.clone()
        } else {
            format!("{}/{staging}", parent.key)
        };
        let fail = |e: io::Error| self.io_err("staging a new tree at", &key, e);
        rfs::mkdirat(&parent.fd, staging.as_str(), Mode::from_raw_mode(DIR_MODE))
            .map_err(|e| fail(e.into()))?;
        let fd = rfs::openat(&parent.fd, staging.as_str(), nofollow_dir(), Mode::empty())
            .and_then(|fd| {
                rfs::flock(&fd, FlockOperation::LockExclusive)?;
                rfs::fchmod(&fd, Mode::from_raw_mode(DIR_MODE))?;
                Ok(fd)
            })
            .map_err(|e| fail(e.into()))?;
        match rfs::openat(&parent.fd, name, nofollow_dir(), Mode::empty()) {
            Ok(current) => link_tree(&current, &fd).map_err(fail)?,
            Err(Errno::NOENT) => {}
            Err(Errno::LOOP | Errno::NOTDIR) => return Err(self.not_plain(prefix)),
            Err(e) => return Err(fail(e.into())),
        }
        self.staged
            .lock()
            .expect("not poisoned")
            .insert(key.clone(), fd);
        Ok(Some(key))
    }

    fn commit_tree(
        &self,
        prefix: &str,
        staged: &str,
        check: &dyn Fn() -> StoreResult<()>,
    ) -> StoreResult<()> {
        let (segs, name) = Self::split(prefix)?;
        let staging = staged.rsplit('/').next().unwrap_or(staged);
        let stage_of = |dir: &str| format!("{dir}/{staging}");
        if !staging.starts_with(TMP_PREFIX)
            || stage_of(prefix.rsplit_once('/').map_or("", |(d, _)| d)).trim_start_matches('/')
                != staged
        {
            return Err(StoreError::Backend(format!(
                "{staged:?} is not a tree staged beside {prefix:?}"
            )));
        }
        let parent = self
            .open_dir(&segs, false)?
            .ok_or_else(|| StoreError::NotFound(staged.to_string()))?;
        // Commits beside each other (and their checks) one at a time: a
        // check that passed still holds when its exchange happens.
        rfs::flock(&parent.fd, FlockOperation::LockExclusive)
            .map_err(|e| self.io_err("locking", &parent.key, e))?;
        let result = check().and_then(|()| {
            let swapped =
                rfs::renameat_with(&parent.fd, staging, &parent.fd, name, RenameFlags::EXCHANGE);
            match swapped {
                Ok(()) => Ok(()),
                Err(Errno::NOENT) => rfs::renameat_with(
                    &parent.fd,
                    staging,
                    &parent.fd,
                    name,
                    RenameFlags::NOREPLACE,
                )
                .map_err(|e| self.io_err("moving into place", prefix, e)),
                Err(e) => Err(self.io_err("switching to the new tree of", prefix, e)),
            }
        });
        // The old tree (after an exchange) or the refused new one.
        let _ = remove_tree(&parent.fd, OsStr::new(staging));
        let _ = rfs::flock(&parent.fd, FlockOperation::Unlock);
        self.staged.lock().expect("not poisoned").remove(staged);
        result
    }

    fn list(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        if let Some(root) = self.open_dir(&[], false).or_else(|e| match e {
            StoreError::NotFound(_) => Ok(None),
            e => Err(e),
        })? {
            walk(&root.fd, "", prefix, &mut out)
                .map_err(|e| StoreError::io(format!("listing {}", self.root.display()), e))?;
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        let (segs, name) = Self::split(key)?;
        let Some(dir) = self.open_dir(&segs, false)? else {
            return Err(StoreError::NotFound(key.to_string()));
        };
        match rfs::unlinkat(&dir.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) => Err(StoreError::NotFound(key.to_string())),
            Err(e) => Err(self.io_err("deleting", key, e)),
        }
    }
}

/// Lists regular files beneath `dir` (key prefix `at`) whose keys start
/// with `prefix`, descending only into real directories that can hold such
/// keys; links and temporary files are skipped.
fn walk(dir: &OwnedFd, at: &str, prefix: &str, out: &mut Vec<ObjectInfo>) -> io::Result<()> {
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue; // not a key this bucket could have written
        };
        if name == "." || name == ".." || name.starts_with(TMP_PREFIX) {
            continue;
        }
        let key = format!("{at}{name}");
        let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let sub = format!("{key}/");
                if !(sub.starts_with(prefix) || prefix.starts_with(&sub)) {
                    continue;
                }
                match rfs::openat(dir, name, nofollow_dir(), Mode::empty()) {
                    Ok(fd) => walk(&fd, &sub, prefix, out)?,
                    Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            FileType::RegularFile if key.starts_with(prefix) => out.push(ObjectInfo {
                key,
                size: st.st_size as u64,
                modified: Some(st.st_mtime),
            }),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(b: &DirBucket, prefix: &str) -> Vec<String> {
        b.list(prefix).unwrap().into_iter().map(|o| o.key).collect()
    }

    /// Every name under `dir`, temporary ones included.
    fn names_under(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.extend(names_under(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
        out
    }

    #[test]
    fn links_beneath_the_root_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(outside.join("sub")).unwrap();
        std::fs::write(outside.join("secret"), b"s").unwrap();
        let root = dir.path().join("bucket");
        let b = DirBucket::new(&root);
        b.setup(&BucketSetup::default()).unwrap();
        b.put_bytes("dists/real/x", b"x", PutMode::Create).unwrap();
        std::fs::create_dir_all(root.join("pool/d")).unwrap();
        let link =
            |target: &Path, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
        link(&outside, "pool/d/h"); // a directory link deep inside
        link(&outside, "backups"); // a directory link at the top
        link(&outside.join("secret"), "dists/real/secret"); // a file link
        link(&outside.join("secret"), "dists/real/new"); // a file link to replace
        for mode in [PutMode::Create, PutMode::Overwrite] {
            for key in [
                "pool/d/h/hello/x.deb",
                "backups/b.json",
                "pool/d/h/y",
                "backups/sub/z",
            ] {
                let err = b.put_bytes(key, b"evil", mode).unwrap_err();
                assert!(
                    err.to_string().contains("does not follow links"),
                    "{key}: {err}"
                );
                assert!(b.copy("dists/real/x", key, mode).is_err(), "{key}");
            }
        }
        for key in ["dists/real/secret", "backups/secret", "pool/d/h/secret"] {
            assert!(b.get(key).is_err(), "{key} read through a link");
            assert_eq!(b.head(key).unwrap_or(None), None, "{key}");
            assert!(
                b.copy(key, "dists/copied", PutMode::Overwrite).is_err(),
                "{key}"
            );
        }
        // Replacing a link replaces the link itself, never its target.
        b.put_bytes("dists/real/new", b"mine", PutMode::Overwrite)
            .unwrap();
        assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"s");
        assert!(!std::fs::symlink_metadata(root.join("dists/real/new"))
            .unwrap()
            .is_symlink());
        assert_eq!(keys(&b, ""), ["dists/real/new", "dists/real/x"]);
        let mut outside_now = names_under(&outside);
        outside_now.sort();
        assert_eq!(outside_now, [outside.join("secret").display().to_string()]);
    }

    #[test]
    fn modes_do_not_depend_on_the_umask() {
        // The umask is per process: a child process creates the files.
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", "umask 077 && exec \"$0\" \"$@\""])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "embedded::bucket::tests::umask_child",
                "--include-ignored",
            ])
            .env("BUCKET_UMASK_CHILD_DIR", dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("b"), 0o755);
        assert_eq!(mode("b/pool"), 0o755);
        assert_eq!(mode("b/pool/a"), 0o755);
        assert_eq!(mode("b/pool/a/new"), 0o644);
        assert_eq!(mode("b/pool/a/replaced"), 0o644);
        assert_eq!(mode("b/pool/a/copied"), 0o644);
    }

    #[test]
    #[ignore = "run by modes_do_not_depend_on_the_umask in a child process"]
    fn umask_child() {
        let Some(dir) = std::env::var_os("BUCKET_UMASK_CHILD_DIR") else {
            return;
        };
        let b = DirBucket::new(Path::new(&dir).join("b"));
        b.setup(&BucketSetup::default()).unwrap();
        b.put_bytes("pool/a/new", b"1", PutMode::Create).unwrap();
        b.put_bytes("pool/a/replaced", b"1", PutMode::Create)
            .unwrap();
        b.put_bytes("pool/a/replaced", b"2", PutMode::Overwrite)
            .unwrap();
        b.copy("pool/a/new", "pool/a/copied", PutMode::Overwrite)
            .unwrap();
    }

    #[test]
    fn overwriting_a_copy_with_the_same_file_leaves_no_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path());
        b.put_bytes("d/by-hash/x", b"index", PutMode::Create)
            .unwrap();
        for _ in 0..3 {
            b.copy("d/by-hash/x", "d/Packages", PutMode::Overwrite)
                .unwrap();
            b.copy("d/by-hash/x", "d/by-hash/y", PutMode::Overwrite)
                .unwrap();
        }
        let mut names = names_under(dir.path());
        names.sort();
        let want: Vec<String> = ["d/Packages", "d/by-hash/x", "d/by-hash/y"]
            .iter()
            .map(|k| dir.path().join(k).display().to_string())
            .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn leftovers_of_a_killed_writer_are_removed_by_the_next_write_there() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pool/a")).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        let leftover = |name: &str, age: SystemTime| {
            let f = std::fs::File::create(dir.path().join("pool/a").join(name)).unwrap();
            f.set_modified(age).unwrap();
            f
        };
        drop(leftover(".tmp-killed", old));
        drop(leftover(".tmp-just-created", SystemTime::now()));
        // A writer that still holds its file (however slow) keeps it.
        let held = leftover(".tmp-held", old);
        rfs::flock(&held, FlockOperation::LockExclusive).unwrap();
        drop(leftover(".tmp-elsewhere", old));
        std::fs::rename(
            dir.path().join("pool/a/.tmp-elsewhere"),
            dir.path().join(".tmp-elsewhere"),
        )
        .unwrap();
        let b = DirBucket::new(dir.path());
        b.put_bytes("pool/a/x", b"x", PutMode::Create).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("pool/a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".tmp-held", ".tmp-just-created", "x"]);
        assert!(
            dir.path().join(".tmp-elsewhere").exists(),
            "only the written directory"
        );
        drop(held);
    }

    #[test]
    fn a_staged_tree_replaces_the_old_one_in_one_step() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirBucket::new(dir.path());
        b.put_bytes("dists/d/Release", b"old", PutMode::Create)
            .unwrap();
        b.put_bytes("dists/d/main/Packages", b"old", PutMode::Create)
            .unwrap();
        b.put_bytes("dists/d/main/by-hash/x", b"old", PutMode::Create)
            .unwrap();
        b.put_bytes("dists/e/Release", b"other", PutMode::Create)
            .unwrap();
        // A tree staged by a publish that was killed: nobody holds it.
        std::fs::create_dir_all(dir.path().join("dists/.tmp-d-killed/main")).unwrap();

        let staged = b.stage_tree("dists/d").unwrap().unwrap();
        assert!(!dir.path().join("dists/.tmp-d-killed").exists());
        // It starts as the current tree, and is not listed.
        assert_eq!(
            b.get(&format!("{staged}/main/by-hash/x")).unwrap().unwrap(),
            b"old"
        );
        b.put_bytes(
            &format!("{staged}/main/Packages"),
            b"new",
            PutMode::Overwrite,
        )
        .unwrap();
        b.put_bytes(&format!("{staged}/main/by-hash/y"), b"new", PutMode::Create)
            .unwrap();
        b.put_bytes(&format!("{staged}/Release"), b"new", PutMode::Overwrite)
            .unwrap();
        // Until the switch, readers see the old tree whole.
        assert_eq!(b.get("dists/d/main/Packages").unwrap().unwrap(), b"old");
        assert_eq!(b.get("dists/d/Release").unwrap().unwrap(), b"old");
        let before = keys(&b, "");
        assert!(!before.iter().any(|k| k.contains(".tmp-")), "{before:?}");

        // A check that fails: nothing changes, the staged tree is gone.
        let refused = || Err(StoreError::Backend("stale".into()));
        assert!(b.commit_tree("dists/d", &staged, &refused).is_err());
        assert_eq!(b.get("dists/d/Release").unwrap().unwrap(), b"old");
        assert_eq!(keys(&b, ""), before);

        let staged = b.stage_tree("dists/d").unwrap().unwrap();
        b.put_bytes(
            &format!("{staged}/main/Packages"),
            b"new",
            PutMode::Overwrite,
        )
        .unwrap();
        b.put_bytes(&format!("{staged}/Release"), b"new", PutMode::Overwrite)
            .unwrap();
        b.commit_tree("dists/d", &staged, &|| Ok(())).unwrap();
        assert_eq!(b.get("dists/d/Release").unwrap().unwrap(), b"new");
        assert_eq!(b.get("dists/d/main/Packages").unwrap().unwrap(), b"new");
        assert_eq!(
            keys(&b, ""),
            [
                "dists/d/Release",
                "dists/d/main/Packages",
                "dists/d/main/by-hash/x",
                "dists/e/Release"
            ]
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("dists"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        // The first publish of a distribution: nothing to exchange with.
        let staged = b.stage_tree("dists/f").unwrap().unwrap();
        b.put_bytes(&format!("{staged}/Release"), b"f", PutMode::Create)
            .unwrap();
        b.commit_tree("dists/f", &staged, &|| Ok(())).unwrap();
        assert_eq!(b.get("dists/f/Release").unwrap().unwrap(), b"f");
    }

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
