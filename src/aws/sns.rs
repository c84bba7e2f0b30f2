//! Announcements through SNS, and the caller's identity through STS.
//!
//! A topic lives in one region, which its ARN names; messages to it are
//! published there, whatever region the rest of the repository uses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::PublishBatchRequestEntry;

use super::{backoff, error_chain, AwsContext};
use crate::store::{Notifier, StoreError, StoreResult};

/// The subject of every announcement, as the original's.
pub const SUBJECT: &str = "Repoman notification";

/// Publish attempts per message (on top of the SDK's own retries).
const PUBLISH_ATTEMPTS: u32 = 4;
/// Messages per PublishBatch request: SNS's maximum.
const BATCH_ENTRIES: usize = 10;
/// The most message bytes one PublishBatch request carries (SNS's limit
/// is 256 KiB for the whole request).
const BATCH_BYTES: usize = 250 * 1024;

/// The SNS [`Notifier`].
#[derive(Debug)]
pub struct SnsNotifier {
    ctx: AwsContext,
    sns: aws_sdk_sns::Client,
    /// Clients for topics in other regions than the context's, by region.
    regional: Mutex<HashMap<String, aws_sdk_sns::Client>>,
    sts: aws_sdk_sts::Client,
    caller: Mutex<Option<String>>,
    /// Topic names (and ARNs) already resolved to ARNs.
    topics: Mutex<HashMap<String, String>>,
    retry_base: Duration,
}

impl SnsNotifier {
    pub fn new(ctx: &AwsContext) -> SnsNotifier {
        let mut sns = aws_sdk_sns::config::Builder::from(ctx.sdk_config());
        if let Some(e) = ctx.endpoint("SNS", ctx.overrides().sns_endpoint.as_ref()) {
            sns = sns.endpoint_url(e);
        }
        let mut sts = aws_sdk_sts::config::Builder::from(ctx.sdk_config());
        if let Some(e) = ctx.endpoint("STS", ctx.overrides().sts_endpoint.as_ref()) {
            sts = sts.endpoint_url(e);
        }
        SnsNotifier {
            ctx: ctx.clone(),
            sns: aws_sdk_sns::Client::from_conf(sns.build()),
            regional: Mutex::new(HashMap::new()),
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
            caller: Mutex::new(None),
            topics: Mutex::new(HashMap::new()),
            retry_base: Duration::from_millis(200),
        }
    }

    /// The topic's ARN: an SNS ARN as it is, a name through CreateTopic
    /// (which returns the existing topic's ARN when there is one).
    pub fn topic_arn(&self, topic: &str) -> StoreResult<String> {
        if is_sns_arn(topic) {
            return Ok(topic.to_string());
        }
        if let Some(arn) = self
            .topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
        {
            return Ok(arn.clone());
        }
        let out = self
            .ctx
            .block_on(self.sns.create_topic().name(topic).send())
            .map_err(|e| fail("CreateTopic", topic, &e))?;
        let arn = out.topic_arn().unwrap_or_default().to_string();
        if arn.is_empty() {
            return Err(StoreError::Backend(format!(
                "SNS CreateTopic {topic}: the answer carries no topic ARN"
            )));
        }
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_string(), arn.clone());
        Ok(arn)
    }

    /// The client for the region the topic `arn` lives in.
    fn client_for(&self, arn: &str) -> aws_sdk_sns::Client {
        let Some(region) = arn_region(arn).filter(|r| *r != self.ctx.region()) else {
            return self.sns.clone();
        };
        let mut clients = self.regional.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let mut sns = aws_sdk_sns::config::Builder::from(self.ctx.sdk_config())
                    .region(aws_types::region::Region::new(region.to_string()));
                if let Some(e) = self
                    .ctx
                    .endpoint("SNS", self.ctx.overrides().sns_endpoint.as_ref())
                {
                    sns = sns.endpoint_url(e);
                }
                aws_sdk_sns::Client::from_conf(sns.build())
            })
            .clone()
    }

    /// Publishes messages in order, up to ten per PublishBatch request
    /// (each entry is delivered as the message Publish would send: same
    /// subject and body), retrying with backoff a request that failed for
    /// a reason worth retrying, and the entries SNS failed on its side.
    /// Returns the messages that did not go out, each with its reason.
    fn publish(&self, arn: &str, bodies: &[String]) -> Vec<(String, String)> {
        let client = self.client_for(arn);
        let mut failed = Vec::new();
        for batch in batches(bodies) {
            failed.extend(self.ctx.block_on(self.publish_batch(&client, arn, batch)));
        }
        failed
    }

    async fn publish_batch(
        &self,
        client: &aws_sdk_sns::Client,
        arn: &str,
        batch: &[String],
    ) -> Vec<(String, String)> {
        let mut pending: Vec<&String> = batch.iter().collect();
        let mut failed = Vec::new();
        let mut attempt = 0;
        while !pending.is_empty() {
            let entries = pending
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    PublishBatchRequestEntry::builder()
                        .id(i.to_string())
                        .subject(SUBJECT)
                        .message(body.as_str())
                        .build()
                        .expect("an entry has its id and message")
                })
                .collect();
            let last_try = attempt + 1 >= PUBLISH_ATTEMPTS;
            let sent = client
                .publish_batch()
                .topic_arn(arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await;
            let again: Vec<&String> = match sent {
                Ok(out) => {
                    let mut again = Vec::new();
                    for f in out.failed() {
                        let Some(body) = f.id().parse::<usize>().ok().and_then(|i| pending.get(i))
                        else {
                            continue;
                        };
                        if f.sender_fault() || last_try {
                            let why = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                            failed.push(((*body).clone(), why));
                        } else {
                            again.push(*body);
                        }
                    }
                    again
                }
                Err(e) if !last_try && retryable(&e) => pending.clone(),
                Err(e) => {
                    let why = detail(&e);
                    failed.extend(pending.iter().map(|b| ((*b).clone(), why.clone())));
                    Vec::new()
                }
            };
            if !again.is_empty() {
                let delay = backoff(attempt, self.retry_base, Duration::from_secs(5));
                tracing::debug!(?delay, "SNS PublishBatch failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            pending = again;
        }
        failed
    }
}

/// Messages in PublishBatch-sized runs, in order.
fn batches(bodies: &[String]) -> Vec<&[String]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, body) in bodies.iter().enumerate() {
        let full = i - start == BATCH_ENTRIES || (i > start && bytes + body.len() > BATCH_BYTES);
        if full {
            out.push(&bodies[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += body.len();
    }
    if start < bodies.len() {
        out.push(&bodies[start..]);
    }
    out
}

impl Notifier for SnsNotifier {
    fn caller(&self) -> StoreResult<String> {
        let mut cached = self.caller.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = &*cached {
            return Ok(c.clone());
        }
        let out = self
            .ctx
            .block_on(self.sts.get_caller_identity().send())
            .map_err(|e| StoreError::Backend(format!("STS GetCallerIdentity: {}", detail(&e))))?;
        let arn = out.arn().unwrap_or_default().to_string();
        *cached = Some(arn.clone());
        Ok(arn)
    }

    fn announce(&self, topic: Option<&str>, messages: &[serde_json::Value]) -> StoreResult<()> {
        let Some(topic) = topic.filter(|t| !t.trim().is_empty()) else {
            return Ok(());
        };
        if messages.is_empty() {
            return Ok(());
        }
        let bodies: Vec<String> = messages.iter().map(|m| m.to_string()).collect();
        let arn = match self.topic_arn(topic) {
            Ok(a) => a,
            Err(e) => return Err(undelivered(&e.to_string(), &bodies, bodies.len())),
        };
        let failed = self.publish(&arn, &bodies);
        match failed.last() {
            None => Ok(()),
            Some((_, last)) => {
                let failed: Vec<String> = failed.iter().map(|(b, _)| b.clone()).collect();
                Err(undelivered(
                    &format!("SNS PublishBatch to {arn}: {last}"),
                    &failed,
                    bodies.len(),
                ))
            }
        }
    }
}

/// The error for messages that did not go out: the cause, then every
/// undelivered message body, so the user can resend them by hand.
fn undelivered(cause: &str, failed: &[String], total: usize) -> StoreError {
    StoreError::Backend(format!(
        "{cause}; {} of {total} announcements not delivered: {}",
        failed.len(),
        failed.join(" ")
    ))
}

/// The region an SNS ARN names (`arn:aws:sns:REGION:ACCOUNT:NAME`).
fn arn_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() >= 6 && parts[0] == "arn" && parts[2] == "sns" && !parts[3].is_empty())
        .then_some(parts[3])
}

fn is_sns_arn(topic: &str) -> bool {
    let parts: Vec<&str> = topic.split(':').collect();
    parts.len() >= 6 && parts[0] == "arn" && parts[2] == "sns"
}

fn retryable<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::ServiceError(_) => {
            let code = e.code().unwrap_or_default();
            code.contains("Throttl") || code.contains("Internal") || code.contains("Unavailable")
        }
        // Timeouts, connection and response errors: worth another try.
        _ => true,
    }
}

fn detail<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug + 'static>(
    e: &SdkError<E, R>,
) -> String {
    let s = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => match e {
            SdkError::ServiceError(se) => error_chain(se.err()),
            other => error_chain(other),
        },
    };
    s.replace(['\n', '\r'], " ")
}

fn fail<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug + 'static>(
    op: &str,
    topic: &str,
    e: &SdkError<E, R>,
) -> StoreError {
    StoreError::Backend(format!("SNS {op} {topic}: {}", detail(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_told_from_names() {
        assert!(is_sns_arn("arn:aws:sns:us-east-1:123456789012:repo"));
        assert!(is_sns_arn("arn:aws-cn:sns:cn-north-1:123456789012:repo"));
        assert!(!is_sns_arn("repo"));
        assert!(!is_sns_arn("arn:aws:sqs:us-east-1:123456789012:repo"));
    }

    #[test]
    fn batches_hold_ten_messages_and_stay_under_the_size_limit() {
        let small: Vec<String> = (0..23).map(|i| format!("{{\"n\":{i}}}")).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [10, 10, 3]);
        assert_eq!(batches(&small).concat(), small, "in order, each once");
        let big: Vec<String> = (0..5).map(|_| "x".repeat(100 * 1024)).collect();
        let sizes: Vec<usize> = batches(&big).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn undelivered_lists_every_failed_message() {
        let e = undelivered("boom", &["{\"a\":1}".into(), "{\"b\":2}".into()], 3);
        let s = e.to_string();
        assert!(s.starts_with("boom; 2 of 3"));
        assert!(s.contains("{\"a\":1}") && s.contains("{\"b\":2}"));
    }
}
