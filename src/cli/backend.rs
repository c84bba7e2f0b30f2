//! Chooses and opens the backend from the settings: `--local-dir` (or no
//! backend configured at all) selects the embedded one; a SimpleDB domain
//! and an S3 bucket select AWS.

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::args::GlobalArgs;
use crate::store::Backend;

/// The embedded repository's directory when nothing is configured.
pub fn default_local_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("repoman")
}

pub fn open(s: &GlobalArgs) -> Result<Backend> {
    if let Some(dir) = &s.local_dir {
        return Ok(crate::embedded::open(dir, s.simpledb_domain.as_deref())?);
    }
    match (&s.simpledb_domain, &s.s3_bucket) {
        (None, None) => {
            let dir = default_local_dir();
            eprintln!(
                "repoman-cli: no backend configured; using the embedded repository in {} (set --local-dir, or --simpledb-domain and --s3-bucket)",
                dir.display()
            );
            Ok(crate::embedded::open(&dir, None)?)
        }
        (Some(domain), Some(bucket)) => open_aws(s, domain, bucket),
        (Some(_), None) => bail!(
            "--simpledb-domain is set but --s3-bucket is not: AWS needs both (or use --local-dir)"
        ),
        (None, Some(_)) => bail!(
            "--s3-bucket is set but --simpledb-domain is not: AWS needs both (or use --local-dir)"
        ),
    }
}

#[cfg(feature = "aws")]
fn open_aws(s: &GlobalArgs, domain: &str, bucket: &str) -> Result<Backend> {
    let settings = crate::aws::AwsSettings {
        region: s.region.clone(),
        simpledb_region: s.simpledb_region.clone(),
        profile: s.aws_profile.clone(),
        role_arn: s.aws_role.clone().filter(|r| !r.is_empty()),
    };
    Ok(crate::aws::connect(&settings, domain, bucket)?)
}

#[cfg(not(feature = "aws"))]
fn open_aws(_s: &GlobalArgs, _domain: &str, _bucket: &str) -> Result<Backend> {
    bail!("this build has no AWS support (built without the `aws` feature); use --local-dir")
}

#[cfg(feature = "aws")]
pub fn print_iam_policy(s: &GlobalArgs) -> Result<()> {
    let bucket = s.s3_bucket.as_deref().unwrap_or("BUCKET");
    let domain = s.simpledb_domain.as_deref().unwrap_or("DOMAIN");
    let region = s.region.as_deref().unwrap_or("*");
    println!(
        "{}",
        crate::aws::iam_policy(bucket, domain, None, region, "*")
    );
    Ok(())
}

#[cfg(not(feature = "aws"))]
pub fn print_iam_policy(_s: &GlobalArgs) -> Result<()> {
    bail!("this build has no AWS support (built without the `aws` feature)")
}
