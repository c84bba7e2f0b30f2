//! Faults the real stores cannot produce on demand, injected by wrapping a
//! port: a store that fails part-way (as a killed process or a lost
//! network would leave it), and one that pauses at a call until the test
//! lets it go (to order two writers deterministically).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use repoman::model::{Attrs, Item};
use repoman::select::Select;
use repoman::store::{
    BlobStore, BucketSetup, Change, MetaStore, ObjectInfo, PutMode, StoreError, StoreResult,
};

/// The error an injected fault returns.
pub fn injected(what: &str) -> StoreError {
    StoreError::Backend(format!("injected fault: {what}"))
}

/// A [`MetaStore`] whose writes stop after `limit` changes: the `apply`
/// that crosses the limit writes the changes up to it, then fails, as a
/// batch cut off part-way would.
pub struct FailingMeta {
    inner: Box<dyn MetaStore>,
    limit: usize,
    applied: AtomicUsize,
}

impl FailingMeta {
    pub fn after(inner: Box<dyn MetaStore>, limit: usize) -> FailingMeta {
        FailingMeta {
            inner,
            limit,
            applied: AtomicUsize::new(0),
        }
    }

    /// Changes applied so far.
    pub fn applied(&self) -> usize {
        self.applied.load(Ordering::SeqCst)
    }
}

impl MetaStore for FailingMeta {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn change_stamp(&self) -> StoreResult<Option<String>> {
        self.inner.change_stamp()
    }
    fn reads_name_ranges(&self) -> bool {
        self.inner.reads_name_ranges()
    }
    fn domain_exists(&self) -> StoreResult<bool> {
        self.inner.domain_exists()
    }
    fn create_domain(&self) -> StoreResult<()> {
        self.inner.create_domain()
    }
    fn get(&self, item: &str) -> StoreResult<Option<Attrs>> {
        self.inner.get(item)
    }
    fn select(
        &self,
        query: &Select,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.inner.select(query, each)
    }
    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        let done = self.applied();
        let room = self.limit.saturating_sub(done);
        if room >= changes.len() {
            self.inner.apply(changes)?;
            self.applied.fetch_add(changes.len(), Ordering::SeqCst);
            return Ok(());
        }
        if room > 0 {
            self.inner.apply(&changes[..room])?;
            self.applied.fetch_add(room, Ordering::SeqCst);
        }
        Err(injected(&format!("stopped after {} changes", self.limit)))
    }
}

/// Where a paused call waits: the store reports each arrival, and each call
/// waits for one release.
pub struct Gate {
    arrived: Sender<String>,
    release: Mutex<Receiver<()>>,
}

/// The test's side of a [`Gate`].
pub struct GateControl {
    arrived: Receiver<String>,
    release: Sender<()>,
}

impl GateControl {
    /// Waits until a call reaches the gate; returns what it was.
    pub fn wait_arrival(&self) -> String {
        self.arrived
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a call reaches the gate")
    }

    /// Lets one waiting (or the next) call through.
    pub fn release(&self) {
        let _ = self.release.send(());
    }
}

/// A gate and its control.
pub fn gate() -> (Gate, GateControl) {
    let (atx, arx) = channel();
    let (rtx, rrx) = channel();
    (
        Gate {
            arrived: atx,
            release: Mutex::new(rrx),
        },
        GateControl {
            arrived: arx,
            release: rtx,
        },
    )
}

impl Gate {
    fn pass(&self, what: String) {
        let _ = self.arrived.send(what);
        let _ = self.release.lock().unwrap().recv();
    }
}

/// A [`MetaStore`] whose every `apply` waits at a gate first.
pub struct PausingMeta {
    inner: Box<dyn MetaStore>,
    gate: Gate,
}

impl PausingMeta {
    pub fn new(inner: Box<dyn MetaStore>) -> (PausingMeta, GateControl) {
        let (gate, control) = gate();
        (PausingMeta { inner, gate }, control)
    }
}

impl MetaStore for PausingMeta {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn change_stamp(&self) -> StoreResult<Option<String>> {
        self.inner.change_stamp()
    }
    fn reads_name_ranges(&self) -> bool {
        self.inner.reads_name_ranges()
    }
    fn domain_exists(&self) -> StoreResult<bool> {
        self.inner.domain_exists()
    }
    fn create_domain(&self) -> StoreResult<()> {
        self.inner.create_domain()
    }
    fn get(&self, item: &str) -> StoreResult<Option<Attrs>> {
        self.inner.get(item)
    }
    fn select(
        &self,
        query: &Select,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.inner.select(query, each)
    }
    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        self.gate
            .pass(format!("apply of {} changes", changes.len()));
        self.inner.apply(changes)
    }
}

/// A [`BlobStore`] whose writes (puts and copies) fail once `limit` of
/// them have succeeded; reads keep working.
pub struct FailingBlobs {
    inner: Box<dyn BlobStore>,
    limit: usize,
    written: AtomicUsize,
}

impl FailingBlobs {
    pub fn after(inner: Box<dyn BlobStore>, limit: usize) -> FailingBlobs {
        FailingBlobs {
            inner,
            limit,
            written: AtomicUsize::new(0),
        }
    }

    fn write<T>(&self, key: &str, f: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
        if self.written.fetch_add(1, Ordering::SeqCst) >= self.limit {
            return Err(injected(&format!("writing {key}")));
        }
        f()
    }
}

/// A [`BlobStore`] whose writes (puts and copies) each wait at a gate first.
pub struct PausingBlobs {
    inner: Box<dyn BlobStore>,
    gate: Gate,
}

impl PausingBlobs {
    pub fn new(inner: Box<dyn BlobStore>) -> (PausingBlobs, GateControl) {
        let (gate, control) = gate();
        (PausingBlobs { inner, gate }, control)
    }

    fn write<T>(&self, key: &str, f: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
        self.gate.pass(format!("write of {key}"));
        f()
    }
}

/// The BlobStore methods of a wrapper with a `write` guard: reads pass
/// through, writes go through the guard.
macro_rules! guarded_blobs {
    ($t:ty) => {
        impl BlobStore for $t {
            fn describe(&self) -> String {
                self.inner.describe()
            }
            fn apt_url(&self) -> String {
                self.inner.apt_url()
            }
            fn setup(&self, opts: &BucketSetup) -> StoreResult<()> {
                self.inner.setup(opts)
            }
            fn checkup(&self) -> StoreResult<Vec<String>> {
                self.inner.checkup()
            }
            fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StoreResult<()> {
                self.write(key, || self.inner.put_file(key, path, mode))
            }
            fn put_bytes(&self, key: &str, bytes: &[u8], mode: PutMode) -> StoreResult<()> {
                self.write(key, || self.inner.put_bytes(key, bytes, mode))
            }
            fn read(&self, key: &str, out: &mut dyn Write) -> StoreResult<()> {
                self.inner.read(key, out)
            }
            fn head(&self, key: &str) -> StoreResult<Option<u64>> {
                self.inner.head(key)
            }
            fn copy(&self, from: &str, to: &str, mode: PutMode) -> StoreResult<()> {
                self.write(to, || self.inner.copy(from, to, mode))
            }
            fn list(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>> {
                self.inner.list(prefix)
            }
            fn delete(&self, key: &str) -> StoreResult<()> {
                self.write(key, || self.inner.delete(key))
            }
        }
    };
}

guarded_blobs!(FailingBlobs);
guarded_blobs!(PausingBlobs);

/// A [`MetaStore`] that another process seems to write to while it is
/// read: before each `select` (numbered from 0), the changes `writer`
/// returns for that number are applied to the store underneath.
pub struct ChangingMeta {
    inner: Box<dyn MetaStore>,
    writer: Box<dyn Fn(usize) -> Vec<Change> + Send + Sync>,
    selects: AtomicUsize,
}

impl ChangingMeta {
    pub fn new(
        inner: Box<dyn MetaStore>,
        writer: impl Fn(usize) -> Vec<Change> + Send + Sync + 'static,
    ) -> ChangingMeta {
        ChangingMeta {
            inner,
            writer: Box::new(writer),
            selects: AtomicUsize::new(0),
        }
    }
}

impl MetaStore for ChangingMeta {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn change_stamp(&self) -> StoreResult<Option<String>> {
        self.inner.change_stamp()
    }
    fn reads_name_ranges(&self) -> bool {
        self.inner.reads_name_ranges()
    }
    fn domain_exists(&self) -> StoreResult<bool> {
        self.inner.domain_exists()
    }
    fn create_domain(&self) -> StoreResult<()> {
        self.inner.create_domain()
    }
    fn get(&self, item: &str) -> StoreResult<Option<Attrs>> {
        self.inner.get(item)
    }
    fn select(
        &self,
        query: &Select,
        each: &mut dyn FnMut(Item) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let n = self.selects.fetch_add(1, Ordering::SeqCst);
        let changes = (self.writer)(n);
        if !changes.is_empty() {
            self.inner.apply(&changes)?;
        }
        self.inner.select(query, each)
    }
    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        self.inner.apply(changes)
    }
}
