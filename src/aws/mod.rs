//! The AWS implementations of the ports: SimpleDB ([`SimpleDbMeta`], our own
//! client, since no maintained SDK exists), S3 ([`S3Bucket`]) and SNS + STS
//! ([`SnsNotifier`]).
//!
//! The ports are synchronous traits because the catalog is plain sync code
//! (it walks items, builds indices and prompts the user; nothing in it gains
//! from being async). The AWS SDKs are async, so every backend here shares
//! one tokio multi-thread runtime ([`AwsContext`]) and calls `block_on`
//! inside each port method. The runtime is created once per process by
//! [`connect`], never per request, and the backends must not be used from
//! inside another tokio runtime (block_on would panic there).

pub mod dynamodb;
mod put_options;
pub mod s3;
pub mod simpledb;
pub mod sns;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_types::region::Region;
use aws_types::SdkConfig;
use rand::Rng;

use crate::store::{Backend, StoreError, StoreResult};

pub use dynamodb::DynamoDbMeta;
pub use s3::S3Bucket;
pub use simpledb::SimpleDbMeta;
pub use sns::SnsNotifier;

/// How to reach AWS: the global `--region`, `--aws-profile` and `--aws-role`
/// settings. Anything unset comes from aws-config's default chain
/// (environment, shared config and credentials files, SSO, container and
/// instance roles).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: Option<String>,
    /// The SimpleDB domain's region when it differs from `region`
    /// (SimpleDB exists in fewer regions than S3 and SNS).
    pub simpledb_region: Option<String>,
    pub profile: Option<String>,
    /// A role to assume through STS with the base credentials.
    pub role_arn: Option<String>,
}

/// Access keys given directly, instead of through the default chain (tests,
/// S3-compatible servers).
#[derive(Clone, PartialEq, Eq)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for StaticKeys {
    // Never print the secret or the token, not even in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// Per-connection settings that take precedence over the environment. The
/// standard variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `_SNS`,
/// `_STS`, `_SIMPLEDB`, `_DYNAMODB`) are honoured without this; it exists so that several
/// connections in one process (tests running in parallel threads) can point
/// at different servers without touching the process environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Every service's endpoint (like `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    pub s3_endpoint: Option<String>,
    pub sns_endpoint: Option<String>,
    pub sts_endpoint: Option<String>,
    pub simpledb_endpoint: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    pub credentials: Option<StaticKeys>,
}

/// What every AWS backend of one connection shares: the runtime that drives
/// the async SDKs, the loaded SDK configuration and the overrides.
#[derive(Clone)]
pub struct AwsContext {
    runtime: Arc<tokio::runtime::Runtime>,
    config: SdkConfig,
    overrides: Overrides,
    simpledb_region: Option<String>,
}

impl fmt::Debug for AwsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsContext")
            .field("region", &self.region())
            .field("overrides", &self.overrides)
            .finish()
    }
}

impl AwsContext {
    /// Starts the runtime and loads the configuration (and, with a role,
    /// prepares the assume-role credentials, fetched on first use).
    pub fn new(settings: &AwsSettings, overrides: &Overrides) -> StoreResult<AwsContext> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("repoman-aws")
            .enable_all()
            .build()
            .map_err(|e| StoreError::io("starting the AWS runtime", e))?;
        let config = runtime.block_on(load_config(settings, overrides));
        Ok(AwsContext {
            runtime: Arc::new(runtime),
            config,
            overrides: overrides.clone(),
            simpledb_region: settings.simpledb_region.clone().filter(|r| !r.is_empty()),
        })
    }

    /// The region every client uses (`us-east-1` when nothing sets one).
    pub fn region(&self) -> &str {
        self.config
            .region()
            .map(|r| r.as_ref())
            .unwrap_or(DEFAULT_REGION)
    }

    /// The SimpleDB domain's region: its own setting, else [`region`](Self::region).
    pub fn simpledb_region(&self) -> &str {
        self.simpledb_region.as_deref().unwrap_or(self.region())
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    /// Runs a future to completion on the shared runtime.
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The endpoint a service's client uses when it is not AWS's own: the
    /// per-service override, then the service's standard variable
    /// (`AWS_ENDPOINT_URL_<ID>`, or `endpoint_url` in the profile's services
    /// section), then the global one.
    pub(crate) fn endpoint(&self, service_id: &str, explicit: Option<&String>) -> Option<String> {
        if let Some(e) = explicit {
            return Some(e.clone());
        }
        if let Some(e) = &self.overrides.endpoint_url {
            return Some(e.clone());
        }
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("every field of the key is set");
        self.config
            .service_config()
            .and_then(|c| c.load_config(key))
            .or_else(|| self.config.endpoint_url().map(str::to_string))
            .filter(|e| !e.is_empty())
    }

    pub(crate) fn overrides(&self) -> &Overrides {
        &self.overrides
    }
}

const DEFAULT_REGION: &str = "us-east-1";

async fn load_config(settings: &AwsSettings, overrides: &Overrides) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = settings.profile.as_deref().filter(|p| !p.is_empty()) {
        loader = loader.profile_name(p);
    }
    if let Some(r) = settings.region.as_deref().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(r.to_string()));
    }
    if let Some(u) = &overrides.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    if let Some(k) = &overrides.credentials {
        loader = loader.credentials_provider(Credentials::new(
            k.access_key_id.clone(),
            k.secret_access_key.clone(),
            k.session_token.clone(),
            None,
            "repoman-static",
        ));
    }
    let mut config = loader.load().await;
    if config.region().is_none() {
        config = config
            .into_builder()
            .region(Region::from_static(DEFAULT_REGION))
            .build();
    }
    if let Some(role) = settings.role_arn.as_deref().filter(|r| !r.is_empty()) {
        config = assume_role(config, role, overrides).await;
    }
    config
}

/// Replaces the configuration's credentials with those of `role`, assumed
/// with the base credentials (refreshed before they expire by the SDK's
/// identity cache, and by our SimpleDB client's own cache).
async fn assume_role(config: SdkConfig, role: &str, overrides: &Overrides) -> SdkConfig {
    let mut base = config.clone();
    if let Some(sts) = &overrides.sts_endpoint {
        base = base.into_builder().endpoint_url(sts).build();
    }
    let session = format!("repoman-{}", chrono::Utc::now().timestamp());
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name(session)
        .session_length(Duration::from_secs(3600))
        .configure(&base)
        .build()
        .await;
    config
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// The AWS backend: SimpleDB `domain` for the metadata, S3 `bucket` for the
/// files, SNS for announcements.
pub fn connect(settings: &AwsSettings, domain: &str, bucket: &str) -> StoreResult<Backend> {
    connect_with(settings, &Overrides::default(), domain, bucket)
}

/// [`connect`] with explicit endpoint and credential overrides.
pub fn connect_with(
    settings: &AwsSettings,
    overrides: &Overrides,
    domain: &str,
    bucket: &str,
) -> StoreResult<Backend> {
    let ctx = AwsContext::new(settings, overrides)?;
    Ok(Backend {
        meta: Box::new(SimpleDbMeta::new(&ctx, domain)?),
        blobs: Box::new(S3Bucket::new(&ctx, bucket).locate()),
        notifier: Box::new(SnsNotifier::new(&ctx)),
        name: domain.to_string(),
    })
}

/// A delay before retry number `attempt` (0-based): capped exponential
/// backoff with full jitter, so that many clients retrying at once spread
/// out instead of hitting the service in waves.
pub(crate) fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.min(20)).min(cap);
    let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
    Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
}

/// The least-privilege IAM policy template (see docs/aws.md).
pub const IAM_POLICY_TEMPLATE: &str = include_str!("../../templates/iam-policy.json");

/// The IAM policy the tool needs for one repository, from
/// `templates/iam-policy.json`. `topic` is a topic name or ARN; without one
/// the SNS statement is left out. `region` and `account` may be `*`.
pub fn iam_policy(
    bucket: &str,
    domain: &str,
    topic: Option<&str>,
    region: &str,
    account: &str,
) -> String {
    let mut doc: serde_json::Value =
        serde_json::from_str(IAM_POLICY_TEMPLATE).expect("the IAM policy template is valid JSON");
    let topic_arn = topic.map(|t| {
        if t.starts_with("arn:") {
            t.to_string()
        } else {
            format!("arn:aws:sns:{region}:{account}:{t}")
        }
    });
    if let Some(statements) = doc.get_mut("Statement").and_then(|s| s.as_array_mut()) {
        if topic_arn.is_none() {
            statements.retain(|s| s.get("Sid").and_then(|v| v.as_str()) != Some("Announce"));
        }
    }
    let vars = [
        ("${BUCKET}", bucket),
        ("${DOMAIN}", domain),
        ("${REGION}", region),
        ("${ACCOUNT}", account),
        ("${TOPIC_ARN}", topic_arn.as_deref().unwrap_or("")),
    ];
    // Substituting inside the parsed strings (not the text) keeps any
    // character in a name from changing the policy's structure.
    fill(&mut doc, &vars);
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

/// [`iam_policy`] for any state store: the `Metadata` statement names the
/// SimpleDB domain, or the DynamoDB table and its indexes, and is left out
/// for a SQLite state.
pub fn iam_policy_for(
    bucket: &str,
    state: &crate::store_url::StateUrl,
    topic: Option<&str>,
    region: &str,
    account: &str,
) -> String {
    use crate::store_url::StateUrl;
    let domain = match state {
        StateUrl::SimpleDb(d) => d.as_str(),
        _ => "DOMAIN",
    };
    let text = iam_policy(bucket, domain, topic, region, account);
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("the policy is JSON");
    let Some(statements) = doc.get_mut("Statement").and_then(|s| s.as_array_mut()) else {
        return text;
    };
    let metadata =
        |s: &serde_json::Value| s.get("Sid").and_then(|v| v.as_str()) == Some("Metadata");
    match state {
        StateUrl::SimpleDb(_) => return text,
        StateUrl::Sqlite { .. } => statements.retain(|s| !metadata(s)),
        StateUrl::DynamoDb(table) => {
            let arn = format!("arn:aws:dynamodb:{region}:{account}:table/{table}");
            for s in statements.iter_mut().filter(|s| metadata(s)) {
                *s = serde_json::json!({
                    "Sid": "Metadata",
                    "Effect": "Allow",
                    "Action": [
                        "dynamodb:CreateTable",
                        "dynamodb:DescribeTable",
                        "dynamodb:GetItem",
                        "dynamodb:BatchGetItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                        "dynamodb:Scan"
                    ],
                    "Resource": [arn.clone(), format!("{arn}/index/*")]
                });
            }
        }
    }
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

/// The policy template of an unattended backup job.
pub const IAM_POLICY_BACKUP_ONLY_TEMPLATE: &str =
    include_str!("../../templates/iam-policy-backup-only.json");

/// `iam-policy --backup-only`: what an unattended backup job needs and
/// nothing more. It reads the state (the `ReadState` statement names the
/// SimpleDB domain or the DynamoDB table, and is left out for a SQLite
/// state), lists and reads the backups under `backups/<name>/` (the base of
/// an increment), and creates objects there only with `If-None-Match: *`
/// (the `s3:if-none-match` condition key), so it can neither overwrite nor
/// delete a backup. With `kms_key` (the `backup-sse-kms-key-id`), it may
/// use that key for SSE-KMS.
pub fn iam_policy_backup_only(
    bucket: &str,
    state: &crate::store_url::StateUrl,
    kms_key: Option<&str>,
    region: &str,
    account: &str,
) -> String {
    use crate::store_url::StateUrl;
    let mut doc: serde_json::Value = serde_json::from_str(IAM_POLICY_BACKUP_ONLY_TEMPLATE)
        .expect("the IAM policy template is valid JSON");
    let statements = doc["Statement"]
        .as_array_mut()
        .expect("the template has statements");
    let sid = |s: &serde_json::Value, id: &str| s.get("Sid").and_then(|v| v.as_str()) == Some(id);
    match state {
        StateUrl::SimpleDb(_) => {}
        StateUrl::Sqlite { .. } => statements.retain(|s| !sid(s, "ReadState")),
        StateUrl::DynamoDb(table) => {
            let arn = format!("arn:aws:dynamodb:{region}:{account}:table/{table}");
            for s in statements.iter_mut().filter(|s| sid(s, "ReadState")) {
                *s = serde_json::json!({
                    "Sid": "ReadState",
                    "Effect": "Allow",
                    "Action": [
                        "dynamodb:DescribeTable",
                        "dynamodb:GetItem",
                        "dynamodb:BatchGetItem",
                        "dynamodb:Query",
                        "dynamodb:Scan"
                    ],
                    "Resource": [arn.clone(), format!("{arn}/index/*")]
                });
            }
        }
    }
    if let Some(key) = kms_key {
        let use_key = serde_json::json!(["kms:GenerateDataKey", "kms:Decrypt"]);
        statements.push(if let Some(alias) = key.strip_prefix("alias/") {
            serde_json::json!({
                "Sid": "BackupKey",
                "Effect": "Allow",
                "Action": use_key,
                "Resource": "*",
                "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": format!("alias/{alias}")}}
            })
        } else {
            let arn = if key.starts_with("arn:") {
                key.to_string()
            } else {
                format!("arn:aws:kms:{region}:{account}:key/{key}")
            };
            serde_json::json!({"Sid": "BackupKey", "Effect": "Allow", "Action": use_key, "Resource": arn})
        });
    }
    let backups = crate::backup::stored::prefix(&state.backup_name());
    let domain = match state {
        StateUrl::SimpleDb(d) => d.as_str(),
        _ => "DOMAIN",
    };
    fill(
        &mut doc,
        &[
            ("${BUCKET}", bucket),
            ("${BACKUPS}", &backups),
            ("${DOMAIN}", domain),
            ("${REGION}", region),
            ("${ACCOUNT}", account),
        ],
    );
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}

fn fill(v: &mut serde_json::Value, vars: &[(&str, &str)]) {
    match v {
        serde_json::Value::String(s) => {
            for (k, val) in vars {
                if s.contains(k) {
                    *s = s.replace(k, val);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| fill(x, vars)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| fill(x, vars)),
        _ => {}
    }
}

/// An error and its causes on one line (`a: b: c`), without the debug dump
/// the SDK's own `DisplayErrorContext` appends. Repeated texts (a wrapper
/// that displays its source) appear once.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ").replace(['\n', '\r'], " ")
}

/// Removes every secret we hold from a message before it reaches an error
/// or a log line (a server could echo a request parameter back).
pub(crate) fn redact(message: &str, secrets: &[&str]) -> String {
    let mut out = message.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(s) {
            out = out.replace(s, "[redacted]");
        }
    }
    out.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 0..40 {
            let d = backoff(attempt, base, cap);
            assert!(d <= cap, "attempt {attempt}: {d:?}");
            assert!(d <= base * 2u32.pow(attempt.min(20)));
        }
    }

    #[test]
    fn policy_names_the_resources_and_drops_sns_without_topic() {
        let p = iam_policy("apt.example.com", "repo", Some("news"), "eu-west-1", "1234");
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert!(p.contains("arn:aws:s3:::apt.example.com/backups/*"));
        assert!(p.contains("arn:aws:sdb:eu-west-1:1234:domain/repo"));
        assert!(p.contains("arn:aws:sns:eu-west-1:1234:news"));
        assert!(!p.contains("${"));
        assert!(v["Statement"].as_array().unwrap().len() >= 4);

        let none = iam_policy("b", "d", None, "*", "*");
        assert!(!none.contains("sns:Publish"));
        assert!(!none.contains("${"));

        let arn = iam_policy("b", "d", Some("arn:aws:sns:us-east-2:9:t"), "*", "*");
        assert!(arn.contains("\"arn:aws:sns:us-east-2:9:t\""));
    }

    #[test]
    fn policy_follows_the_state_store() {
        use crate::store_url::StateUrl;
        let p = iam_policy_for(
            "b",
            &StateUrl::DynamoDb("tbl".into()),
            None,
            "eu-west-1",
            "12",
        );
        assert!(
            p.contains("\"arn:aws:dynamodb:eu-west-1:12:table/tbl\""),
            "{p}"
        );
        assert!(p.contains("arn:aws:dynamodb:eu-west-1:12:table/tbl/index/*"));
        assert!(p.contains("dynamodb:UpdateItem"));
        assert!(!p.contains("sdb:"));
        let p = iam_policy_for("b", &StateUrl::SimpleDb("dom".into()), None, "*", "*");
        assert!(p.contains("domain/dom") && !p.contains("dynamodb:"));
        let p = iam_policy_for(
            "b",
            &StateUrl::Sqlite {
                path: "/x".into(),
                domain: "d".into(),
            },
            None,
            "*",
            "*",
        );
        assert!(!p.contains("sdb:") && !p.contains("dynamodb:") && p.contains("s3:GetObject"));
    }

    #[test]
    fn the_backup_only_policy_creates_backups_and_reads_the_state_only() {
        use crate::store_url::StateUrl;
        let p = iam_policy_backup_only(
            "b",
            &StateUrl::SimpleDb("dom".into()),
            None,
            "eu-west-1",
            "12",
        );
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert!(!p.contains("${"), "{p}");
        let actions: Vec<&str> = v["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "s3:ListBucket",
                "s3:GetObject",
                "s3:PutObject",
                "sdb:DomainMetadata",
                "sdb:GetAttributes",
                "sdb:Select",
                "sts:GetCallerIdentity"
            ]
        );
        let put = v["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"][0] == "s3:PutObject")
            .unwrap();
        assert_eq!(put["Resource"], "arn:aws:s3:::b/backups/dom/*");
        assert_eq!(put["Condition"]["Null"]["s3:if-none-match"], "false");
        assert!(p.contains("\"arn:aws:sdb:eu-west-1:12:domain/dom\""));

        let d = iam_policy_backup_only("b", &StateUrl::DynamoDb("t".into()), Some("k-1"), "r", "1");
        assert!(
            d.contains("dynamodb:Scan") && !d.contains("dynamodb:PutItem") && !d.contains("sdb:")
        );
        assert!(d.contains("backups/t/*") && d.contains("\"arn:aws:kms:r:1:key/k-1\""));
        let s = iam_policy_backup_only(
            "b",
            &StateUrl::Sqlite {
                path: "/x".into(),
                domain: "d".into(),
            },
            Some("alias/backups"),
            "*",
            "*",
        );
        assert!(!s.contains("sdb:") && !s.contains("dynamodb:") && s.contains("backups/local/*"));
        assert!(s.contains("kms:ResourceAliases") && s.contains("\"alias/backups\""));
        for p in [&p, &d, &s] {
            assert!(!p.contains("Delete"), "{p}");
        }
    }

    #[test]
    fn hostile_names_cannot_change_the_policy_structure() {
        let p = iam_policy("b\",\"Effect\":\"Allow", "d", None, "*", "*");
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        let n = iam_policy("b", "d", None, "*", "*");
        let w: serde_json::Value = serde_json::from_str(&n).unwrap();
        assert_eq!(
            v["Statement"].as_array().unwrap().len(),
            w["Statement"].as_array().unwrap().len()
        );
    }

    #[test]
    fn error_chain_is_one_line_of_distinct_causes() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "dispatch failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection\nrefused",
        ));
        assert_eq!(error_chain(&e), "dispatch failure: connection refused");
    }

    #[test]
    fn redact_removes_secrets_and_newlines() {
        let s = redact(
            "key AKIDEXAMPLE secret wJalr\nXUtn",
            &["AKIDEXAMPLE", "wJalr\nXUtn"],
        );
        assert_eq!(s, "key [redacted] secret [redacted]");
    }

    #[test]
    fn static_keys_debug_hides_the_secret() {
        let k = StaticKeys {
            access_key_id: "AKID".into(),
            secret_access_key: "s3cr3t-value".into(),
            session_token: Some("tok-value".into()),
        };
        let d = format!("{k:?}");
        assert!(!d.contains("s3cr3t-value") && !d.contains("tok-value"));
    }
}
