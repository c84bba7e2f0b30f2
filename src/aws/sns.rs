//! Announcements through SNS, and the caller's identity through STS.
//!
//! A topic lives in one region, which its ARN names; messages to it are
//! published there, whatever region the rest of the repository uses.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};

use super::{backoff, error_chain, AwsContext};
use crate::store::{Notifier, StoreError, StoreResult};

/// The subject of every announcement, as the original's.
pub const SUBJECT: &str = "Repoman notification";

/// Publish attempts per message (on top of the SDK's own retries).
const PUBLISH_ATTEMPTS: u32 = 4;

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

    /// Publishes one message, retrying with backoff unless the error is the
    /// request's own fault (a 4xx other than throttling).
    fn publish(&self, arn: &str, message: &str) -> Result<(), String> {
        let client = self.client_for(arn);
        self.ctx.block_on(async {
            let mut attempt = 0;
            loop {
                let sent = client
                    .publish()
                    .topic_arn(arn)
                    .subject(SUBJECT)
                    .message(message)
                    .send()
                    .await;
                match sent {
                    Ok(_) => return Ok(()),
                    Err(e) if attempt + 1 < PUBLISH_ATTEMPTS && retryable(&e) => {
                        let delay = backoff(attempt, self.retry_base, Duration::from_secs(5));
                        tracing::debug!(?delay, "SNS Publish failed; retrying");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(detail(&e)),
                }
            }
        })
    }
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
        let mut failed = Vec::new();
        let mut last = String::new();
        for body in &bodies {
            if let Err(e) = self.publish(&arn, body) {
                failed.push(body.clone());
                last = e;
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(undelivered(
                &format!("SNS Publish to {arn}: {last}"),
                &failed,
                bodies.len(),
            ))
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
    fn undelivered_lists_every_failed_message() {
        let e = undelivered("boom", &["{\"a\":1}".into(), "{\"b\":2}".into()], 3);
        let s = e.to_string();
        assert!(s.starts_with("boom; 2 of 3"));
        assert!(s.contains("{\"a\":1}") && s.contains("{\"b\":2}"));
    }
}
