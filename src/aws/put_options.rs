//! How a stored backup is put on S3 beyond its bytes (see
//! [`PutOptions`]): server-side encryption and storage class on the
//! PutObject request, and a body paced to `backup-rate-limit`.

use aws_sdk_s3::primitives::ByteStream;

use crate::rate::{chunk_size, TokenBucket};
use crate::store::{PutOptions, Sse};

/// A PutObject request with the server-side encryption and storage class
/// `opts` name.
pub(super) fn with_put_options(
    req: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    opts: &PutOptions,
) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
    use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
    let mut req = req;
    match &opts.sse {
        Some(Sse::Aes256) => req = req.server_side_encryption(ServerSideEncryption::Aes256),
        Some(Sse::Kms { key_id }) => {
            req = req.server_side_encryption(ServerSideEncryption::AwsKms);
            if let Some(k) = key_id {
                req = req.ssekms_key_id(k);
            }
        }
        None => {}
    }
    if let Some(class) = &opts.storage_class {
        req = req.storage_class(StorageClass::from(class.as_str()));
    }
    req
}

/// A body that sends `data` no faster than `rate` bytes per second: in
/// chunks, each after the wait a [`TokenBucket`] computes. Built afresh for
/// every try of the request.
pub(super) fn paced(data: bytes::Bytes, rate: u64) -> ByteStream {
    use aws_sdk_s3::primitives::SdkBody;
    ByteStream::new(SdkBody::retryable(move || {
        SdkBody::from_body_1_x(Paced {
            data: data.clone(),
            sent: 0,
            bucket: TokenBucket::new(rate),
            chunk: chunk_size(rate),
            wait: None,
        })
    }))
}

struct Paced {
    data: bytes::Bytes,
    sent: usize,
    bucket: TokenBucket,
    chunk: usize,
    /// The wait before the next chunk, once computed.
    wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Paced {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        if this.sent >= this.data.len() {
            return Poll::Ready(None);
        }
        let n = this.chunk.min(this.data.len() - this.sent);
        if this.wait.is_none() {
            let now = tokio::time::Instant::now();
            let delay = this.bucket.take(n as u64, now.into_std());
            this.wait = Some(Box::pin(tokio::time::sleep_until(now + delay)));
        }
        if let Some(w) = this.wait.as_mut() {
            if w.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        this.wait = None;
        let frame = this.data.slice(this.sent..this.sent + n);
        this.sent += n;
        Poll::Ready(Some(Ok(http_body::Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.data.len()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact((self.data.len() - self.sent) as u64)
    }
}
