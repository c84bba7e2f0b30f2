//! The bucket on S3 (or an S3-compatible server).
//!
//! Create-only writes are conditional (`If-None-Match: *` on PutObject,
//! CopyObject and CompleteMultipartUpload), so two writers racing for one
//! key cannot both win: S3 answers the loser 412 PreconditionFailed, which
//! becomes [`StoreError::Exists`]. A 409 ConditionalRequestConflict says
//! only that another operation on the key was in flight, not that the key
//! exists: the write is tried again (a multipart upload from the start, as
//! AWS asks), and then either lands or meets the 412. Large files go up in
//! parts read from disk one at a time, so memory stays bounded whatever the
//! file size.

use std::io::Write;
use std::path::Path;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::upload_part::UploadPartError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketCannedAcl, BucketLocationConstraint, BucketVersioningStatus, ChecksumAlgorithm,
    CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration, ErrorDocument,
    IndexDocument, MetadataDirective, ObjectOwnership, WebsiteConfiguration,
};
use aws_sdk_s3::Client;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::io::AsyncReadExt;

use super::put_options::{paced, with_put_options};
use super::{backoff, error_chain, AwsContext};
use crate::layout::{cache_control, content_type, content_type_of, is_by_hash, CACHE_INDICES};
use crate::store::{
    BlobStore, BucketSetup, ObjectInfo, PutMode, PutOptions, StoreError, StoreResult,
};

const MIB: u64 = 1024 * 1024;
/// Tries of a conditional write S3 answers 409 ConditionalRequestConflict.
const CONFLICT_ATTEMPTS: u32 = 6;
/// Files above this size are uploaded in parts.
pub const MULTIPART_THRESHOLD: u64 = 64 * MIB;
/// The size of each part (S3 allows 5 MiB to 5 GiB, at most 10,000 parts).
pub const PART_SIZE: u64 = 16 * MIB;
const MIN_PART_SIZE: u64 = 5 * MIB;
const MAX_PARTS: u64 = 10_000;
/// Parts uploaded at the same time.
const PARALLEL_PARTS: usize = 4;

/// Where `checkup` writes (and at once deletes) its probe object: under
/// `backups/`, the only prefix the IAM policy lets the tool delete in.
pub const CHECKUP_PREFIX: &str = "backups/.repoman-checkup/";

/// The S3 [`BlobStore`].
#[derive(Debug, Clone)]
pub struct S3Bucket {
    ctx: AwsContext,
    client: Client,
    /// The region `client` sends to: the bucket's own once [`S3Bucket::locate`]
    /// found it.
    region: String,
    bucket: String,
    /// The endpoint when it is not AWS's own (then addressing is path-style).
    endpoint: Option<String>,
    multipart_threshold: u64,
    part_size: u64,
    /// HEAD before a create-only multipart upload or copy (see
    /// [`S3Bucket::with_create_precheck`]).
    create_precheck: bool,
    /// Cache-Control of the names a publish replaces (see
    /// [`crate::layout::cache_control`]).
    cache_indices: String,
}

impl S3Bucket {
    pub fn new(ctx: &AwsContext, bucket: &str) -> S3Bucket {
        let endpoint = ctx.endpoint("S3", ctx.overrides().s3_endpoint.as_ref());
        S3Bucket {
            ctx: ctx.clone(),
            client: client_in(ctx, endpoint.as_deref(), ctx.region()),
            region: ctx.region().to_string(),
            bucket: bucket.to_string(),
            endpoint,
            multipart_threshold: MULTIPART_THRESHOLD,
            part_size: PART_SIZE,
            create_precheck: true,
            cache_indices: CACHE_INDICES.to_string(),
        }
    }

    /// The same bucket, its requests sent to `region`.
    pub fn in_region(&self, region: &str) -> S3Bucket {
        S3Bucket {
            client: client_in(&self.ctx, self.endpoint.as_deref(), region),
            region: region.to_string(),
            ..self.clone()
        }
    }

    /// The region requests go to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The same bucket in the region it lives in, which HeadBucket names
    /// (`x-amz-bucket-region`, also on the 301 AWS answers a request sent
    /// to another region). A bucket that cannot be asked (absent, no
    /// access) stays in the configured region; its own calls report why.
    pub fn locate(self) -> S3Bucket {
        let asked = self
            .ctx
            .block_on(self.client.head_bucket().bucket(&self.bucket).send());
        let found = match &asked {
            Ok(out) => out.bucket_region().map(str::to_string),
            Err(e) => e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string),
        };
        match found {
            Some(r) if !r.is_empty() && r != self.region => self.in_region(&r),
            _ => self,
        }
    }

    /// The same bucket with another Cache-Control for Release, InRelease,
    /// Release.gpg and the plain index names.
    pub fn with_cache_control_indices(mut self, value: &str) -> S3Bucket {
        self.cache_indices = value.to_string();
        self
    }

    fn cache_control(&self, key: &str) -> String {
        cache_control(key, &self.cache_indices).to_string()
    }

    /// The same bucket with other multipart sizes (`part_size` is raised to
    /// S3's 5 MiB minimum).
    pub fn with_multipart(mut self, threshold: u64, part_size: u64) -> S3Bucket {
        self.multipart_threshold = threshold;
        self.part_size = part_size.max(MIN_PART_SIZE);
        self
    }

    /// Whether a create-only multipart upload or copy first asks whether
    /// the key exists. That only saves sending data that would be refused:
    /// the conditional request is what guarantees create-only. Tests turn it
    /// off to exercise the conditional path itself.
    pub fn with_create_precheck(mut self, on: bool) -> S3Bucket {
        self.create_precheck = on;
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    /// A one-line error: `S3 <Op> s3://bucket/key: <Code>: <Message>`.
    fn fail<E>(&self, op: &str, key: &str, e: &SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let detail = match (e.code(), e.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            // No error code: name the status and the cause, not the whole
            // raw response the SDK error carries.
            _ => match e {
                SdkError::ServiceError(se) => format!(
                    "HTTP {}: {}",
                    se.raw().status().as_u16(),
                    error_chain(se.err())
                ),
                other => error_chain(other),
            },
        };
        StoreError::Backend(one_line(&format!("S3 {op} {}: {detail}", self.url(key))))
    }

    async fn head_async(&self, key: &str) -> StoreResult<Option<u64>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if status(&e) == Some(404) || e.code() == Some("NotFound") => Ok(None),
            Err(e) => Err(self.fail("HeadObject", key, &e)),
        }
    }

    async fn put_stream(
        &self,
        key: &str,
        body: ByteStream,
        len: u64,
        mode: PutMode,
        content_type: &str,
    ) -> StoreResult<Option<String>> {
        let plain = PutOptions::default();
        self.put_stream_with(key, body, len, mode, content_type, &plain)
            .await
    }

    /// [`S3Bucket::put_stream`] with server-side encryption and a storage
    /// class (a rate limit is the body's business: see `put_options::paced`).
    async fn put_stream_with(
        &self,
        key: &str,
        body: ByteStream,
        len: u64,
        mode: PutMode,
        content_type: &str,
        opts: &PutOptions,
    ) -> StoreResult<Option<String>> {
        let body = body.into_inner();
        let mut attempt = 0;
        loop {
            // Bodies from memory and from a file can be sent again.
            let this = body.try_clone().ok_or_else(|| {
                StoreError::Backend(format!(
                    "S3 PutObject {}: body cannot be resent",
                    self.url(key)
                ))
            })?;
            let mut req = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .cache_control(self.cache_control(key))
                .content_length(len as i64)
                .body(ByteStream::new(this));
            if mode == PutMode::Create {
                req = req.if_none_match("*");
            }
            req = with_put_options(req, opts);
            match req.send().await {
                Ok(out) => return Ok(out.version_id().map(str::to_string)),
                Err(e) if mode == PutMode::Create && exists(&e) => {
                    return Err(StoreError::Exists(self.url(key)))
                }
                Err(e) if conflict(&e) && attempt + 1 < CONFLICT_ATTEMPTS => {
                    attempt += 1;
                    conflict_pause(attempt).await;
                }
                Err(e) => return Err(self.fail("PutObject", key, &e)),
            }
        }
    }

    async fn put_file_async(&self, key: &str, path: &Path, mode: PutMode) -> StoreResult<()> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?
            .len();
        let ctype = content_type_of(key, &file_head(path)?);
        if size > self.multipart_threshold {
            return self.multipart(key, path, size, mode, ctype).await;
        }
        let body = ByteStream::from_path(path).await.map_err(|e| {
            StoreError::io(
                format!("reading {}", path.display()),
                std::io::Error::other(e.to_string()),
            )
        })?;
        self.put_stream(key, body, size, mode, ctype)
            .await
            .map(drop)
    }

    /// A multipart upload, aborted if any step fails so no parts linger.
    async fn multipart(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        mode: PutMode,
        content_type: &str,
    ) -> StoreResult<()> {
        // Fail before sending gigabytes when the key is plainly taken; the
        // conditional completion below is what makes the create safe.
        if mode == PutMode::Create && self.create_precheck && self.head_async(key).await?.is_some()
        {
            return Err(StoreError::Exists(self.url(key)));
        }
        let mut attempt = 0;
        loop {
            if self
                .multipart_once(key, path, size, mode, content_type)
                .await?
            {
                return Ok(());
            }
            attempt += 1;
            if attempt == CONFLICT_ATTEMPTS {
                return Err(StoreError::Backend(format!(
                    "S3 CompleteMultipartUpload {}: ConditionalRequestConflict {attempt} times",
                    self.url(key)
                )));
            }
            conflict_pause(attempt).await;
        }
    }

    /// One multipart upload: `false` when S3 answered its completion 409
    /// ConditionalRequestConflict (the upload is aborted; start again).
    async fn multipart_once(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        mode: PutMode,
        content_type: &str,
    ) -> StoreResult<bool> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(self.cache_control(key))
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.fail("CreateMultipartUpload", key, &e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts(key, path, size, &upload_id, mode).await;
        if !matches!(result, Ok(true)) {
            let abort = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = abort {
                tracing::warn!("{}", self.fail("AbortMultipartUpload", key, &e));
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        upload_id: &str,
        mode: PutMode,
    ) -> StoreResult<bool> {
        let part_size = self.part_size.max(size.div_ceil(MAX_PARTS));
        let read_err = |e| StoreError::io(format!("reading {}", path.display()), e);
        let mut file = tokio::fs::File::open(path).await.map_err(read_err)?;
        // A few parts in flight at once: faster on a long link, and memory
        // stays bounded at PARALLEL_PARTS part buffers. Dropping the set on
        // an error cancels the other parts.
        let mut in_flight = tokio::task::JoinSet::new();
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut number = 1i32;
        while offset < size || !in_flight.is_empty() {
            while offset < size && in_flight.len() < PARALLEL_PARTS {
                let len = part_size.min(size - offset);
                let mut buf = vec![0u8; len as usize];
                file.read_exact(&mut buf).await.map_err(read_err)?;
                let request = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32)
                    .body(ByteStream::from(buf));
                let n = number;
                in_flight.spawn(async move {
                    let out = request.send().await?;
                    Ok::<_, SdkError<UploadPartError, HttpResponse>>(
                        CompletedPart::builder()
                            .part_number(n)
                            .set_e_tag(out.e_tag().map(str::to_string))
                            .set_checksum_crc32(out.checksum_crc32().map(str::to_string))
                            .build(),
                    )
                });
                offset += len;
                number += 1;
            }
            if let Some(done) = in_flight.join_next().await {
                let part = done
                    .map_err(|e| {
                        StoreError::Backend(format!("S3 UploadPart {}: {e}", self.url(key)))
                    })?
                    .map_err(|e| self.fail("UploadPart", key, &e))?;
                parts.push(part);
            }
        }
        parts.sort_by_key(|p| p.part_number());
        let mut req = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        if mode == PutMode::Create {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if mode == PutMode::Create && exists(&e) => {
                Err(StoreError::Exists(self.url(key)))
            }
            Err(e) if conflict(&e) => Ok(false),
            Err(e) => Err(self.fail("CompleteMultipartUpload", key, &e)),
        }
    }

    async fn copy_async(&self, from: &str, to: &str, mode: PutMode) -> StoreResult<()> {
        if mode == PutMode::Create && self.create_precheck && self.head_async(to).await?.is_some() {
            return Err(StoreError::Exists(self.url(to)));
        }
        let source = format!("{}/{}", self.bucket, encode_key(from));
        let mut attempt = 0;
        loop {
            let mut req = self
                .client
                .copy_object()
                .bucket(&self.bucket)
                .key(to)
                .copy_source(&source);
            // CopyObject keeps the source's Content-Type unless told
            // otherwise: a plain name copied from its by-hash twin (or a pool
            // file from another distribution) gets the type and caching of
            // its own name. by-hash copies of by-hash objects keep both, set
            // when the source was written.
            if !is_by_hash(to) {
                req = req
                    .metadata_directive(MetadataDirective::Replace)
                    .content_type(content_type(to))
                    .cache_control(self.cache_control(to));
            }
            if mode == PutMode::Create {
                req = req.if_none_match("*");
            }
            match req.send().await {
                Ok(_) => return Ok(()),
                Err(e) if mode == PutMode::Create && exists(&e) => {
                    return Err(StoreError::Exists(self.url(to)))
                }
                Err(e) if conflict(&e) && attempt + 1 < CONFLICT_ATTEMPTS => {
                    attempt += 1;
                    conflict_pause(attempt).await;
                }
                Err(e) if e.code() == Some("NoSuchKey") || status(&e) == Some(404) => {
                    return Err(StoreError::NotFound(self.url(from)))
                }
                Err(e) => return Err(self.fail("CopyObject", to, &e)),
            }
        }
    }

    async fn read_async(&self, key: &str, out: &mut dyn Write) -> StoreResult<()> {
        let got = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.code() == Some("NoSuchKey") || status(&e) == Some(404) => {
                return Err(StoreError::NotFound(self.url(key)))
            }
            Err(e) => return Err(self.fail("GetObject", key, &e)),
        };
        let mut body = got.body;
        while let Some(chunk) = body.try_next().await.map_err(|e| {
            StoreError::Backend(one_line(&format!(
                "S3 GetObject {}: reading the body: {}",
                self.url(key),
                error_chain(&e)
            )))
        })? {
            out.write_all(&chunk)
                .map_err(|e| StoreError::io(format!("writing {}", self.url(key)), e))?;
        }
        Ok(())
    }

    async fn list_async(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.fail("ListObjectsV2", prefix, &e))?;
            for o in page.contents() {
                out.push(ObjectInfo {
                    key: o.key().unwrap_or_default().to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified: o.last_modified().map(|d| d.secs()),
                });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn setup_async(&self, opts: &BucketSetup) -> StoreResult<()> {
        // A bucket is created, and set up, through its own region's
        // endpoint: S3 refuses a location constraint other than the
        // endpoint's region.
        if let Some(r) = opts.region.as_deref().filter(|r| !r.is_empty()) {
            if r != self.region {
                return Box::pin(self.in_region(r).setup_async(opts)).await;
            }
        }
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => {
                tracing::warn!("bucket s3://{} already exists; leaving it as it is", self.bucket);
                return Ok(());
            }
            Err(e) if status(&e) == Some(404) => {}
            Err(e) if status(&e) == Some(403) => {
                return Err(StoreError::Backend(format!(
                    "S3 bucket s3://{} exists but these credentials cannot use it (is it another account's?)",
                    self.bucket
                )))
            }
            Err(e) => return Err(self.fail("HeadBucket", "", &e)),
        }
        self.create_bucket(opts).await?;
        let acl = if opts.enable_website {
            // A website is public: its objects must be readable anonymously.
            Some("public-read".to_string())
        } else {
            opts.acl.clone().filter(|a| a != "private")
        };
        if acl.as_deref().is_some_and(is_public_acl) || opts.enable_website {
            // New buckets block public ACLs and policies; a public
            // repository needs that block lifted.
            self.client
                .delete_public_access_block()
                .bucket(&self.bucket)
                .send()
                .await
                .map_err(|e| self.fail("DeletePublicAccessBlock", "", &e))?;
        }
        if let Some(acl) = &acl {
            self.client
                .put_bucket_acl()
                .bucket(&self.bucket)
                .acl(BucketCannedAcl::from(acl.as_str()))
                .send()
                .await
                .map_err(|e| self.fail("PutBucketAcl", "", &e))?;
        }
        if opts.enable_website {
            self.enable_website().await?;
        }
        Ok(())
    }

    async fn create_bucket(&self, opts: &BucketSetup) -> StoreResult<()> {
        let region = opts
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| self.region.clone());
        let mut req = self.client.create_bucket().bucket(&self.bucket);
        if region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        let wants_acl = opts.enable_website || opts.acl.as_deref().is_some_and(|a| a != "private");
        if wants_acl {
            // Buckets are created with ACLs disabled unless asked otherwise.
            req = req.object_ownership(ObjectOwnership::BucketOwnerPreferred);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) if e.code() == Some("BucketAlreadyExists") => Err(StoreError::Backend(format!(
                "S3 bucket name {} is taken by another AWS account; DNS-style names such as apt.example.com are less likely to collide",
                self.bucket
            ))),
            Err(e) => Err(self.fail("CreateBucket", "", &e)),
        }
    }

    /// Index and error documents as the original sets them, and a policy
    /// letting anyone read objects (what an apt client needs).
    async fn enable_website(&self) -> StoreResult<()> {
        let website = WebsiteConfiguration::builder()
            .index_document(
                IndexDocument::builder()
                    .suffix("index.html")
                    .build()
                    .map_err(|e| StoreError::Backend(format!("S3 website configuration: {e}")))?,
            )
            .error_document(
                ErrorDocument::builder()
                    .key("errors/404.html")
                    .build()
                    .map_err(|e| StoreError::Backend(format!("S3 website configuration: {e}")))?,
            )
            .build();
        self.client
            .put_bucket_website()
            .bucket(&self.bucket)
            .website_configuration(website)
            .send()
            .await
            .map_err(|e| self.fail("PutBucketWebsite", "", &e))?;
        self.client
            .put_bucket_policy()
            .bucket(&self.bucket)
            .policy(public_read_policy(&self.bucket))
            .send()
            .await
            .map_err(|e| self.fail("PutBucketPolicy", "", &e))?;
        tracing::info!(
            "bucket website: {}",
            website_url(&self.bucket, &self.region)
        );
        Ok(())
    }

    async fn checkup_async(&self) -> StoreResult<Vec<String>> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| match status(&e) {
                Some(404) => StoreError::Backend(format!(
                    "S3 bucket s3://{} does not exist (run setup)",
                    self.bucket
                )),
                _ => self.fail("HeadBucket", "", &e),
            })?;
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.fail("ListObjectsV2", "", &e))?;
        let versioned = self.versioning_enabled().await?;
        self.probe_write().await?;
        Ok(vec![if versioned {
            format!("versioning is enabled on s3://{}", self.bucket)
        } else {
            format!(
                "versioning is not enabled on s3://{b}: enable it so that overwritten or deleted files can be recovered (aws s3api put-bucket-versioning --bucket {b} --versioning-configuration Status=Enabled)",
                b = self.bucket
            )
        }])
    }

    async fn versioning_enabled(&self) -> StoreResult<bool> {
        match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out.status() == Some(&BucketVersioningStatus::Enabled)),
            // Some S3-compatible servers (moto 5.2) wrap the answer in a
            // root element the SDK refuses; the status inside is all we need.
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 200 => {
                let body = e.raw().body().bytes().unwrap_or_default();
                Ok(String::from_utf8_lossy(body).contains("<Status>Enabled</Status>"))
            }
            Err(e) => Err(self.fail("GetBucketVersioning", "", &e)),
        }
    }

    /// Writes a probe object and deletes it again. On a versioned bucket the
    /// probe's own version is deleted, which leaves neither a noncurrent
    /// version nor a delete marker behind.
    async fn probe_write(&self) -> StoreResult<()> {
        let key = format!(
            "{CHECKUP_PREFIX}{}-{}-{}",
            gethostname::gethostname().to_string_lossy(),
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        let version = self
            .put_stream(
                &key,
                ByteStream::from_static(b"checkup"),
                7,
                PutMode::Create,
                content_type(&key),
            )
            .await?;
        let mut req = self.client.delete_object().bucket(&self.bucket).key(&key);
        if let Some(v) = version.filter(|v| v != "null") {
            req = req.version_id(v);
        }
        req.send()
            .await
            .map_err(|e| self.fail("DeleteObject", &key, &e))?;
        Ok(())
    }
}

impl BlobStore for S3Bucket {
    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    fn apt_url(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{}/{}", e.trim_end_matches('/'), self.bucket),
            // A dotted name does not match the wildcard certificate of the
            // virtual-hosted form; path-style keeps https valid.
            None if self.bucket.contains('.') => {
                format!("https://s3.{}.amazonaws.com/{}", self.region, self.bucket)
            }
            None => format!("https://{}.s3.{}.amazonaws.com", self.bucket, self.region),
        }
    }

    fn setup(&self, opts: &BucketSetup) -> StoreResult<()> {
        self.ctx.block_on(self.setup_async(opts))
    }

    fn checkup(&self) -> StoreResult<Vec<String>> {
        self.ctx.block_on(self.checkup_async())
    }

    fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> StoreResult<()> {
        self.ctx.block_on(self.put_file_async(key, path, mode))
    }

    fn put_bytes(&self, key: &str, bytes: &[u8], mode: PutMode) -> StoreResult<()> {
        let body = ByteStream::from(bytes.to_vec());
        self.ctx
            .block_on(self.put_stream(
                key,
                body,
                bytes.len() as u64,
                mode,
                content_type_of(key, bytes),
            ))
            .map(drop)
    }

    fn check_put_options(&self, _opts: &PutOptions) -> StoreResult<()> {
        Ok(())
    }

    fn put_bytes_with(
        &self,
        key: &str,
        bytes: &[u8],
        mode: PutMode,
        opts: &PutOptions,
    ) -> StoreResult<()> {
        let body = match opts.rate_limit {
            Some(rate) => paced(bytes::Bytes::copy_from_slice(bytes), rate),
            None => ByteStream::from(bytes.to_vec()),
        };
        let ctype = content_type_of(key, bytes);
        self.ctx
            .block_on(self.put_stream_with(key, body, bytes.len() as u64, mode, ctype, opts))
            .map(drop)
    }

    fn read(&self, key: &str, out: &mut dyn Write) -> StoreResult<()> {
        self.ctx.block_on(self.read_async(key, out))
    }

    fn head(&self, key: &str) -> StoreResult<Option<u64>> {
        self.ctx.block_on(self.head_async(key))
    }

    fn copy(&self, from: &str, to: &str, mode: PutMode) -> StoreResult<()> {
        self.ctx.block_on(self.copy_async(from, to, mode))
    }

    fn list(&self, prefix: &str) -> StoreResult<Vec<ObjectInfo>> {
        self.ctx.block_on(self.list_async(prefix))
    }

    fn delete(&self, key: &str) -> StoreResult<()> {
        self.ctx.block_on(async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map(drop)
                .map_err(|e| self.fail("DeleteObject", key, &e))
        })
    }
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// A conditional write that lost because the key exists: 412
/// PreconditionFailed, and only that.
fn exists<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    e.code() == Some("PreconditionFailed") || status(e) == Some(412)
}

/// 409 ConditionalRequestConflict: another operation on the key was in
/// flight; AWS asks to try again.
fn conflict<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    e.code() == Some("ConditionalRequestConflict")
}

/// The wait before try `attempt` (1-based) after a conflict.
async fn conflict_pause(attempt: u32) {
    let delay = backoff(
        attempt - 1,
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(2),
    );
    tokio::time::sleep(delay).await;
}

fn is_public_acl(acl: &str) -> bool {
    matches!(
        acl,
        "public-read" | "public-read-write" | "authenticated-read"
    )
}

/// The bucket policy `setup --enable-website` sets, as the original does.
pub fn public_read_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": [format!("arn:aws:s3:::{bucket}/*")],
        }]
    })
    .to_string()
}

/// The first bytes of a file, enough to tell gzip from text.
fn file_head(path: &Path) -> StoreResult<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(2);
    std::fs::File::open(path)
        .and_then(|f| f.take(2).read_to_end(&mut head))
        .map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
    Ok(head)
}

/// Keys in `x-amz-copy-source` are URL-encoded, slashes kept.
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_SET).to_string()
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// An S3 client sending to `region` (or to `endpoint`, path-style).
fn client_in(ctx: &AwsContext, endpoint: Option<&str>, region: &str) -> Client {
    let mut conf = aws_sdk_s3::config::Builder::from(ctx.sdk_config())
        .region(aws_types::region::Region::new(region.to_string()));
    if let Some(e) = endpoint {
        // S3-compatible servers (moto, MinIO, sdb-local's neighbours)
        // rarely resolve `<bucket>.<host>`; path-style always works.
        conf = conf.endpoint_url(e).force_path_style(true);
    }
    Client::from_conf(conf.build())
}

/// Regions whose website endpoints keep the old `s3-website-<region>` form;
/// every other region's is `s3-website.<region>`.
const DASHED_WEBSITE_REGIONS: [&str; 9] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
    "us-gov-west-1",
];

/// The static-website URL of `bucket` in `region`, in the endpoint form
/// that region uses.
pub fn website_url(bucket: &str, region: &str) -> String {
    let sep = if DASHED_WEBSITE_REGIONS.contains(&region) {
        '-'
    } else {
        '.'
    };
    format!("http://{bucket}.s3-website{sep}{region}.amazonaws.com/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_url_names_the_bucket_s_own_region() {
        if std::env::vars().any(|(k, _)| k.starts_with("AWS_ENDPOINT_URL")) {
            eprintln!("SKIPPED: an AWS_ENDPOINT_URL variable replaces AWS's hosts");
            return;
        }
        let settings = crate::aws::AwsSettings {
            region: Some("us-east-1".into()),
            ..crate::aws::AwsSettings::default()
        };
        let ctx = AwsContext::new(&settings, &crate::aws::Overrides::default()).unwrap();
        let b = S3Bucket::new(&ctx, "b").in_region("eu-west-1");
        assert_eq!(b.apt_url(), "https://b.s3.eu-west-1.amazonaws.com");
        let dotted = S3Bucket::new(&ctx, "apt.example.com").in_region("ap-south-2");
        assert_eq!(
            dotted.apt_url(),
            "https://s3.ap-south-2.amazonaws.com/apt.example.com"
        );
    }

    #[test]
    fn website_urls_use_each_region_s_endpoint_form() {
        assert_eq!(
            website_url("b", "us-east-1"),
            "http://b.s3-website-us-east-1.amazonaws.com/"
        );
        assert_eq!(
            website_url("b", "eu-central-1"),
            "http://b.s3-website.eu-central-1.amazonaws.com/"
        );
        assert_eq!(
            website_url("b", "ap-south-2"),
            "http://b.s3-website.ap-south-2.amazonaws.com/"
        );
    }

    #[test]
    fn copy_source_keys_are_encoded() {
        assert_eq!(
            encode_key("pool/a b/c+d_1.0~x.deb"),
            "pool/a%20b/c%2Bd_1.0~x.deb"
        );
    }

    #[test]
    fn website_policy_grants_only_get_object() {
        let p: serde_json::Value =
            serde_json::from_str(&public_read_policy("apt.example.com")).unwrap();
        assert_eq!(p["Statement"][0]["Action"][0], "s3:GetObject");
        assert_eq!(
            p["Statement"][0]["Resource"][0],
            "arn:aws:s3:::apt.example.com/*"
        );
    }
}
