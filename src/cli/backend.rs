//! Opens the stores the settings name (see `store_url`): the state, the
//! bucket and the announcements, each on its own, so any state pairs with
//! any bucket. AWS is only set up when some part needs it.

use std::path::PathBuf;

use anyhow::Result;

use super::args::GlobalArgs;
use crate::embedded::{bucket::DirBucket, log::JsonlLog, meta::SqliteMeta};
use crate::store::{Backend, BlobStore, MetaStore, Notifier, StoreResult};
use crate::store_url::{resolve, BucketUrl, Layout, StateUrl, StoreSettings};

/// The embedded repository's directory when nothing is configured.
pub fn default_local_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("repoman")
}

/// The store settings of the global flags.
pub fn store_settings(s: &GlobalArgs) -> StoreSettings {
    StoreSettings {
        state: s.state.clone(),
        bucket: s.bucket.clone(),
        simpledb_domain: s.simpledb_domain.clone(),
        s3_bucket: s.s3_bucket.clone(),
        local_dir: s.local_dir.clone(),
    }
}

/// The layout the settings name (a one-line error when they conflict).
pub fn layout(s: &GlobalArgs) -> Result<Layout> {
    resolve(&store_settings(s), &default_local_dir()).map_err(anyhow::Error::msg)
}

/// Where the repository is when nothing is configured, said once by
/// `setup` (not on every command).
pub fn default_notice(s: &GlobalArgs) -> Option<String> {
    layout(s).ok().filter(|l| l.defaulted).map(|_| {
        format!(
            "no backend configured; using the embedded repository in {} (set --local-dir, --state and --bucket, or --simpledb-domain and --s3-bucket)",
            default_local_dir().display()
        )
    })
}

pub fn open(s: &GlobalArgs) -> Result<Backend> {
    open_layout(s, &layout(s)?)
}

/// Opens a layout's three parts.
pub fn open_layout(s: &GlobalArgs, layout: &Layout) -> Result<Backend> {
    let aws = if layout.uses_aws() {
        Some(aws::Aws::new(s)?)
    } else {
        None
    };
    let meta = open_state(aws.as_ref(), &layout.state)?;
    let blobs: Box<dyn BlobStore> = match &layout.bucket {
        BucketUrl::Dir(dir) => Box::new(DirBucket::new(dir.clone())),
        BucketUrl::S3(name) => aws::need(aws.as_ref())?.bucket(name),
    };
    let notifier = Routed {
        sns: aws.as_ref().map(aws::Aws::notifier),
        log: layout.log.clone().map(JsonlLog::new),
    };
    Ok(Backend {
        meta,
        blobs,
        notifier: Box::new(notifier),
        name: layout.state.backup_name(),
    })
}

/// Opens a state store alone (`migrate` opens its target this way).
pub fn open_state_url(s: &GlobalArgs, state: &StateUrl) -> Result<Box<dyn MetaStore>> {
    let aws = if state.is_local() {
        None
    } else {
        Some(aws::Aws::new(s)?)
    };
    open_state(aws.as_ref(), state)
}

/// Opens a bucket alone (`migrate --from-export` reads an export this way).
pub fn open_bucket_url(s: &GlobalArgs, bucket: &BucketUrl) -> Result<Box<dyn BlobStore>> {
    Ok(match bucket {
        BucketUrl::Dir(dir) => Box::new(DirBucket::new(dir.clone())),
        BucketUrl::S3(name) => aws::Aws::new(s)?.bucket(name),
    })
}

fn open_state(aws: Option<&aws::Aws>, state: &StateUrl) -> Result<Box<dyn MetaStore>> {
    Ok(match state {
        StateUrl::Sqlite { path, domain } => Box::new(SqliteMeta::open(path, domain)?),
        StateUrl::SimpleDb(domain) => aws::need(aws)?.simpledb(domain)?,
        StateUrl::DynamoDb(table) => aws::need(aws)?.dynamodb(table)?,
    })
}

/// Announcements: to SNS when the configuration names a topic and AWS is
/// in use, else to the log of a local state (which, with no AWS at all,
/// records every message whatever the topic, as the embedded backend
/// always has); with neither, nowhere.
struct Routed {
    sns: Option<Box<dyn Notifier>>,
    log: Option<JsonlLog>,
}

impl Notifier for Routed {
    fn caller(&self) -> StoreResult<String> {
        match (&self.sns, &self.log) {
            (Some(sns), _) => sns.caller(),
            (None, Some(log)) => log.caller(),
            (None, None) => Ok(String::new()),
        }
    }

    fn announce(&self, topic: Option<&str>, messages: &[serde_json::Value]) -> StoreResult<()> {
        let topic = topic.filter(|t| !t.trim().is_empty());
        match (&self.sns, &self.log, topic) {
            (Some(sns), _, Some(_)) => sns.announce(topic, messages),
            (_, Some(log), _) => log.announce(topic, messages),
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "aws")]
mod aws {
    use anyhow::{anyhow, Result};

    use crate::aws::{
        AwsContext, AwsSettings, DynamoDbMeta, Overrides, S3Bucket, SimpleDbMeta, SnsNotifier,
    };
    use crate::cli::args::GlobalArgs;
    use crate::store::{BlobStore, MetaStore, Notifier};

    /// One AWS connection shared by every part that needs it.
    pub struct Aws(AwsContext, Option<String>);

    impl Aws {
        pub fn new(s: &GlobalArgs) -> Result<Aws> {
            let cache = s.cache_control_indices.clone();
            if let Some(v) = &cache {
                if v.is_empty() || !v.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                    return Err(anyhow!(
                        "cache-control-indices {v:?}: must be a non-empty header value of printable ASCII"
                    ));
                }
            }
            Ok(Aws(
                AwsContext::new(&settings(s), &Overrides::default())?,
                cache,
            ))
        }
        pub fn bucket(&self, name: &str) -> Box<dyn BlobStore> {
            let bucket = S3Bucket::new(&self.0, name);
            Box::new(match &self.1 {
                Some(v) => bucket.with_cache_control_indices(v),
                None => bucket,
            })
        }
        pub fn simpledb(&self, domain: &str) -> Result<Box<dyn MetaStore>> {
            Ok(Box::new(SimpleDbMeta::new(&self.0, domain)?))
        }
        pub fn dynamodb(&self, table: &str) -> Result<Box<dyn MetaStore>> {
            Ok(Box::new(DynamoDbMeta::new(&self.0, table)))
        }
        pub fn notifier(&self) -> Box<dyn Notifier> {
            Box::new(SnsNotifier::new(&self.0))
        }
    }

    pub fn settings(s: &GlobalArgs) -> AwsSettings {
        AwsSettings {
            region: s.region.clone(),
            simpledb_region: s.simpledb_region.clone(),
            profile: s.aws_profile.clone(),
            role_arn: s.aws_role.clone().filter(|r| !r.is_empty()),
        }
    }

    pub fn need(aws: Option<&Aws>) -> Result<&Aws> {
        aws.ok_or_else(|| anyhow!("internal: AWS was not set up for an AWS store"))
    }
}

#[cfg(not(feature = "aws"))]
mod aws {
    use anyhow::{bail, Result};

    use crate::cli::args::GlobalArgs;
    use crate::store::{BlobStore, MetaStore, Notifier};

    pub enum Aws {}

    impl Aws {
        pub fn new(_s: &GlobalArgs) -> Result<Aws> {
            bail!("this build has no AWS support (built without the `aws` feature); use --local-dir or sqlite: and file: URLs")
        }
        pub fn bucket(&self, _name: &str) -> Box<dyn BlobStore> {
            match *self {}
        }
        pub fn simpledb(&self, _domain: &str) -> Result<Box<dyn MetaStore>> {
            match *self {}
        }
        pub fn dynamodb(&self, _table: &str) -> Result<Box<dyn MetaStore>> {
            match *self {}
        }
        pub fn notifier(&self) -> Box<dyn Notifier> {
            match *self {}
        }
    }

    pub fn need(aws: Option<&Aws>) -> Result<&Aws> {
        aws.ok_or_else(|| anyhow::anyhow!("this build has no AWS support"))
    }
}

#[cfg(feature = "aws")]
pub fn print_iam_policy(s: &GlobalArgs, backup_only: bool) -> Result<()> {
    let bucket = match (&s.bucket, &s.s3_bucket) {
        (Some(url), _) => match BucketUrl::parse(url).map_err(anyhow::Error::msg)? {
            BucketUrl::S3(b) => b,
            BucketUrl::Dir(_) => "BUCKET".into(),
        },
        (None, Some(b)) => b.clone(),
        (None, None) => "BUCKET".into(),
    };
    let state = match &s.state {
        Some(url) => StateUrl::parse(url).map_err(anyhow::Error::msg)?,
        None => StateUrl::SimpleDb(s.simpledb_domain.clone().unwrap_or_else(|| "DOMAIN".into())),
    };
    let region = s.region.as_deref().unwrap_or("*");
    if backup_only {
        let opts = super::backup::put_options(s)?;
        let key = match &opts.sse {
            Some(crate::store::Sse::Kms { key_id }) => key_id.as_deref(),
            _ => None,
        };
        println!(
            "{}",
            crate::aws::iam_policy_backup_only(&bucket, &state, key, region, "*")
        );
        return Ok(());
    }
    println!(
        "{}",
        crate::aws::iam_policy_for(&bucket, &state, None, region, "*")
    );
    Ok(())
}

#[cfg(not(feature = "aws"))]
pub fn print_iam_policy(_s: &GlobalArgs, _backup_only: bool) -> Result<()> {
    anyhow::bail!("this build has no AWS support (built without the `aws` feature)")
}
