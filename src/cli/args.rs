//! The command line, as clap definitions: the original's commands, flags and
//! meanings, plus the additions documented in docs/commands.md. Every
//! command's arguments live here; the command modules use them, never the
//! reverse.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "repoman-cli",
    version,
    about = "Manage an apt repository: package files in S3 (or a local directory), state in SimpleDB (or SQLite).",
    after_help = "Configuration is read from /etc/repoman/repoman.conf, then ~/.repoman, then --config-file; \
                  REPOMAN_<KEY> environment variables override files, flags override both."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

super::config::settings! {
    /// Read this config file after the default ones
    #[arg(long, global = true, value_name = "FILE")]
    config_file: Option<PathBuf> = "config-file",
    /// SimpleDB domain holding the repository state
    #[arg(long, global = true)]
    simpledb_domain: Option<String> = "simpledb-domain",
    /// S3 bucket holding package files and dists/
    #[arg(long, global = true)]
    s3_bucket: Option<String> = "s3-bucket",
    /// Where the state lives: sqlite:PATH, simpledb:DOMAIN or dynamodb:TABLE
    #[arg(long, global = true, value_name = "URL")]
    state: Option<String> = "state",
    /// Where the files live: file:DIR or s3://BUCKET
    #[arg(long, global = true, value_name = "URL")]
    bucket: Option<String> = "bucket",
    /// Embedded backend: SQLite state, DIR/bucket as the bucket, a JSON-lines announcement log
    #[arg(long, global = true, value_name = "DIR")]
    local_dir: Option<PathBuf> = "local-dir",
    /// AWS credentials profile
    #[arg(long, global = true)]
    aws_profile: Option<String> = "aws-profile",
    /// AWS region
    #[arg(long, global = true)]
    region: Option<String> = "region",
    /// Region of the SimpleDB domain, when not --region (SimpleDB exists in 8 regions)
    #[arg(long, global = true)]
    simpledb_region: Option<String> = "simpledb-region",
    /// ARN of an IAM role to assume before any other AWS call
    #[arg(long, global = true)]
    aws_role: Option<String> = "aws-role",
    /// Accepted for compatibility; logging is configured with --debug and RUST_LOG
    #[arg(long, global = true, value_name = "FILE")]
    log_config: Option<PathBuf> = "log-config",
    /// Accepted for compatibility: checkup never runs implicitly
    #[arg(long, global = true)]
    skip_checkup: bool = "skip-checkup",
    /// Debug logging (same as RUST_LOG=repoman=debug)
    #[arg(long, global = true)]
    debug: bool = "debug",
    /// GnuPG home directory used for signing
    #[arg(long, global = true, value_name = "DIR")]
    gpg_home: Option<PathBuf> = "gpg-home",
    /// Key to sign Release files with (repeatable)
    #[arg(long, global = true, value_name = "KEYID")]
    gpg_signer: Vec<String> = "gpg-signer",
    /// pinentry program for passphrase prompts
    #[arg(long, global = true, value_name = "PATH")]
    gpg_pinentry_path: Option<PathBuf> = "gpg-pinentry-path",
    /// Passphrase of a signing key, one per --gpg-signer, in the same order
    #[arg(long, global = true, value_name = "PASSPHRASE", hide_env_values = true)]
    gpg_passphrase: Vec<String> = "gpg-passphrase",
    /// Armored secret key file to sign with, without GnuPG
    #[arg(long, global = true, value_name = "FILE")]
    gpg_key_file: Option<PathBuf> = "gpg-key-file",
    /// Encrypt backups stored in the bucket to this age recipient (age1…; repeatable)
    #[arg(long = "backup-recipients", visible_alias = "encrypt-to", global = true, value_name = "RECIPIENT")]
    backup_recipients: Vec<String> = "backup-recipients",
    /// age identity file that decrypts stored backups (restore, incremental backups)
    #[arg(long = "backup-identity", visible_alias = "identity", global = true, value_name = "FILE")]
    backup_identity: Option<PathBuf> = "backup-identity",
    /// Server-side encryption of backups stored on S3: aws:kms or AES256
    #[arg(long = "backup-sse", visible_alias = "sse", global = true, value_name = "SSE")]
    backup_sse: Option<String> = "backup-sse",
    /// KMS key (id, ARN or alias/NAME) for --backup-sse aws:kms (default: the account's aws/s3 key)
    #[arg(long = "backup-sse-kms-key-id", visible_alias = "sse-kms-key-id", global = true, value_name = "ID")]
    backup_sse_kms_key_id: Option<String> = "backup-sse-kms-key-id",
    /// S3 storage class of stored backups (e.g. STANDARD_IA)
    #[arg(long = "backup-storage-class", visible_alias = "storage-class", global = true, value_name = "CLASS")]
    backup_storage_class: Option<String> = "backup-storage-class",
    /// Cap the upload bandwidth of stored backups, bytes per second (e.g. 300k, 2M; k = 1024)
    #[arg(long = "backup-rate-limit", visible_alias = "rate-limit", global = true, value_name = "RATE")]
    backup_rate_limit: Option<String> = "backup-rate-limit",
    /// After add or cp, delete all but the N newest versions in each touched dist/comp/arch
    #[arg(long, global = true, value_name = "N")]
    auto_purge: Option<usize> = "auto-purge",
    /// add: every .dsc must be signed by a key of this keyring (binary or armored)
    #[arg(long, global = true, value_name = "KEYRING")]
    verify_keyring: Option<PathBuf> = "verify-keyring",
    /// Keep by-hash files a Release named within this long (e.g. 36h, 0 for none)
    #[arg(long, global = true, value_name = "DURATION")]
    by_hash_retention: Option<String> = "by-hash-retention",
    /// Cache-Control of Release, InRelease and the plain index names on S3
    #[arg(long, global = true, value_name = "VALUE")]
    cache_control_indices: Option<String> = "cache-control-indices",
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the state store and bucket and the initial configuration
    Setup(SetupArgs),
    /// Check that the state store, configuration and bucket work
    Checkup(CheckupArgs),
    /// Show or change the repository configuration
    Repo {
        #[command(subcommand)]
        command: RepoCommand,
    },
    /// Add .deb and .dsc files
    Add(AddArgs),
    /// List packages
    Query(QueryArgs),
    /// Remove packages (their files stay in the bucket)
    Rm(RmArgs),
    /// Copy or promote packages between distributions and components
    Cp(CpArgs),
    /// Write the dists/ tree apt clients read
    Publish(PublishArgs),
    /// Dump the repository state as JSON, or manage stored backups
    Backup(BackupArgs),
    /// Replay a backup into the state store
    Restore(RestoreArgs),
    /// Check the bucket against the state
    Verify(VerifyArgs),
    /// Copy the whole state to another store (sqlite:, simpledb:, dynamodb:) and verify it,
    /// or import a SimpleDB domain export from S3
    Migrate(MigrateArgs),
    /// Serve the directory bucket over HTTP, read-only, for apt on other hosts
    Serve(ServeArgs),
    /// The repository's signing keys
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Print deb822 .sources stanzas for apt clients
    Sources(SourcesArgs),
    /// Print the least-privilege IAM policy this tool needs
    IamPolicy(IamPolicyArgs),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Distribution to serve (repeatable, at least one)
    #[arg(short = 'd', long = "distribution", required = true)]
    pub dists: Vec<String>,
    /// Component to serve (repeatable, at least one)
    #[arg(short = 'c', long = "component", required = true)]
    pub comps: Vec<String>,
    /// Architecture to serve (repeatable, at least one)
    #[arg(short = 'a', long = "architecture", required = true)]
    pub archs: Vec<String>,
    /// Canned ACL for the bucket
    #[arg(long, value_enum, default_value = "private")]
    pub s3_acl: S3Acl,
    /// Region of the bucket (default us-east-1)
    #[arg(long)]
    pub s3_region: Option<String>,
    /// SNS topic (name or ARN) for announcements
    #[arg(long)]
    pub sns_topic: Option<String>,
    /// Origin of the repository's Release files
    #[arg(long)]
    pub origin: Option<String>,
    /// Label of the repository's Release files
    #[arg(long)]
    pub label: Option<String>,
    /// Serve the bucket as a public static website (implies --s3-acl public-read)
    #[arg(long)]
    pub enable_website: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
#[value(rename_all = "kebab-case")]
pub enum S3Acl {
    Private,
    PublicRead,
    AuthenticatedRead,
}

impl S3Acl {
    pub fn as_str(self) -> &'static str {
        match self {
            S3Acl::Private => "private",
            S3Acl::PublicRead => "public-read",
            S3Acl::AuthenticatedRead => "authenticated-read",
        }
    }
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// The policy of an unattended backup job: read the state, create
    /// backups under backups/ (never overwrite or delete), nothing else
    #[arg(long)]
    pub backup_only: bool,
}

#[derive(Debug, Args)]
pub struct CheckupArgs {
    /// Also write and remove test data (the original's write check)
    #[arg(long)]
    pub write_test: bool,
}

/// `-y` / `--confirm` / `--i-fear-no-evil`, shared by every mutating command.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct ConfirmArgs {
    /// Ask before changing anything (the default)
    #[arg(long, overrides_with = "no_confirm")]
    pub confirm: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "no-confirm")]
    pub no_confirm: bool,
    /// Do not ask even for dangerous changes
    #[arg(long)]
    pub i_fear_no_evil: bool,
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    AddDistribution(NamesArgs),
    RmDistribution(NamesArgs),
    AddComponent(NamesArgs),
    RmComponent(NamesArgs),
    AddArchitecture(NamesArgs),
    RmArchitecture(NamesArgs),
    /// Announce changes to this SNS topic (name or ARN)
    AddTopic(ValueArgs),
    /// Stop announcing to SNS
    RmTopic(ConfirmOnly),
    /// Set the Origin of Release files
    AddOrigin(ValueArgs),
    /// Set the Label of Release files
    AddLabel(ValueArgs),
    /// Release of DIST valid for DURATION (e.g. 7d) after each publish; no DURATION: no Valid-Until
    SetValidFor(DistValueArgs),
    /// Suite name of DIST's Release (its codename stays DIST); no SUITE: the codename
    SetSuite(DistValueArgs),
    /// NotAutomatic: yes|no for DIST (apt installs from it only when asked)
    SetNotAutomatic(DistValueArgs),
    /// ButAutomaticUpgrades: yes|no for DIST (upgrades of what came from it are automatic)
    SetButAutomaticUpgrades(DistValueArgs),
    /// Show the configuration
    ShowConfig,
}

#[derive(Debug, Args)]
pub struct DistValueArgs {
    pub dist: String,
    pub value: Option<String>,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct ValueArgs {
    pub value: String,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct ConfirmOnly {
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Distribution to add to (repeatable)
    #[arg(short = 'd', long = "distribution", required = true)]
    pub dists: Vec<String>,
    /// Component to add to (repeatable)
    #[arg(short = 'c', long = "component", required = true)]
    pub comps: Vec<String>,
    /// Replace package files that exist with different bytes
    #[arg(long)]
    pub overwrite: bool,
    /// Publish after adding
    #[arg(long)]
    pub publish: bool,
    /// .deb and .dsc files
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Every .dsc must be signed by a key of KEYRING (binary or armored);
    /// the same as the global --verify-keyring
    #[arg(long = "verify-signatures", value_name = "KEYRING")]
    pub verify_signatures: Option<PathBuf>,
}

/// The filters shared by query, rm, cp and backup.
#[derive(Debug, Args, Clone, Default)]
pub struct FilterArgs {
    /// Package name (repeatable)
    #[arg(short = 'p', long = "package")]
    pub packages: Vec<String>,
    /// Match package names by prefix
    #[arg(short = 'w', long)]
    pub wildcard: bool,
    /// Version (repeatable)
    #[arg(short = 'v', long = "version")]
    pub versions: Vec<String>,
    /// Architecture (repeatable)
    #[arg(short = 'a', long = "architecture")]
    pub archs: Vec<String>,
}

impl FilterArgs {
    /// The catalog filter these flags and the given distributions and
    /// components describe.
    pub fn to_filter(&self, dists: &[String], comps: &[String]) -> crate::catalog::Filter {
        crate::catalog::Filter {
            names: self.packages.clone(),
            name_prefix: self.wildcard,
            dists: dists.to_vec(),
            comps: comps.to_vec(),
            archs: self.archs.clone(),
            versions: self.versions.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Simple,
    Plain,
    Grid,
    Pipe,
    Github,
    Psql,
    Rst,
    Html,
    #[value(name = "fancy_grid")]
    FancyGrid,
    Orgtbl,
    Jira,
    Mediawiki,
    Moinmoin,
    Latex,
    #[value(name = "latex_booktabs")]
    LatexBooktabs,
    Textile,
    Json,
    Jsonc,
    Packages,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Distribution (repeatable)
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
    /// Component (repeatable)
    #[arg(short = 'c', long = "component")]
    pub comps: Vec<String>,
    /// Include packages hidden by removed distributions, components or architectures
    #[arg(short = 'H', long)]
    pub query_hidden: bool,
    /// Output format
    #[arg(short = 'f', long, value_enum, default_value = "simple")]
    pub format: Format,
    /// Only the newest version of each package (same as --recent 1)
    #[arg(short = 'l', long, conflicts_with_all = ["recent", "versions"])]
    pub latest: bool,
    /// Only the N newest versions of each package
    #[arg(short = 'r', long, value_name = "N", conflicts_with = "versions")]
    pub recent: Option<usize>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
    #[arg(short = 'c', long = "component")]
    pub comps: Vec<String>,
    /// Include packages hidden by removed distributions, components or architectures
    #[arg(short = 'H', long)]
    pub rm_hidden: bool,
    /// Format of the table shown before removing
    #[arg(short = 'f', long, value_enum, default_value = "simple")]
    pub format: Format,
    /// Keep the newest version of each package (same as --exclude-recent 1)
    #[arg(short = 'l', long, conflicts_with_all = ["exclude_recent", "versions"])]
    pub exclude_latest: bool,
    /// Keep the N newest versions of each package; remove the rest
    #[arg(
        short = 'r',
        long,
        value_name = "N",
        conflicts_with = "versions",
        allow_negative_numbers = true
    )]
    pub exclude_recent: Option<i64>,
    /// Publish after removing
    #[arg(long)]
    pub publish: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(long, required = true)]
    pub src_distribution: String,
    #[arg(long, required = true)]
    pub src_component: String,
    #[arg(long)]
    pub dst_distribution: Option<String>,
    #[arg(long)]
    pub dst_component: Option<String>,
    /// Only the newest version of each package
    #[arg(short = 'l', long, conflicts_with_all = ["recent", "versions"])]
    pub latest: bool,
    /// Only the N newest versions of each package
    #[arg(short = 'r', long, value_name = "N", conflicts_with = "versions")]
    pub recent: Option<usize>,
    /// Only copy versions newer than the newest already at the destination
    #[arg(long)]
    pub promote: bool,
    /// Let cross-distribution copies replace existing pool files
    #[arg(long)]
    pub overwrite: bool,
    /// Publish after copying
    #[arg(long)]
    pub publish: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Distribution to publish (repeatable; default: every configured one)
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
    /// Only re-date and re-sign the published Release files (no index is rebuilt)
    #[arg(long)]
    pub refresh: bool,
    /// Write every file again, even what the published tree already holds
    /// (by default only what changed is written)
    #[arg(long, conflicts_with = "refresh")]
    pub force: bool,
    /// What to print: text (the apt client lines) or json (what was written)
    #[arg(short = 'f', long, value_enum, default_value = "text")]
    pub format: PublishFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq, Default)]
pub enum PublishFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Distribution (repeatable)
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
    /// Component (repeatable)
    #[arg(short = 'c', long = "component")]
    pub comps: Vec<String>,
    /// Accepted for compatibility with query: a backup always includes
    /// packages hidden by removed distributions, components or architectures
    #[arg(short = 'H', long)]
    pub query_hidden: bool,
    /// jsonc (one line, the default) or json (indented)
    #[arg(short = 'f', long, value_enum, default_value = "jsonc")]
    pub format: BackupFormat,
    /// Write to FILE (atomically: a temporary file, synced, then renamed)
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "to_bucket")]
    pub output: Option<PathBuf>,
    /// Store the backup, gzipped, in the repository's bucket under backups/
    #[arg(long)]
    pub to_bucket: bool,
    /// With --to-bucket: store only what changed since the newest stored
    /// backup (an increment on it); takes no filters
    #[arg(long, requires = "to_bucket")]
    pub incremental: bool,
    /// Print nothing but errors (for cron: the exit status says whether
    /// the backup was completely written)
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum BackupFormat {
    Json,
    Jsonc,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// List backups stored in the bucket (oldest first)
    List,
    /// Delete stored backups but the newest N restore points and the bases they need
    Clean {
        /// How many of the newest restore points to keep
        keep: usize,
        #[command(flatten)]
        confirm: ConfirmArgs,
    },
    /// What changed from A to B: packages added, removed and changed, and
    /// the configuration (each a stored backup's name, a file, or live)
    Diff(BackupDiffArgs),
    /// Download, decrypt and check a stored backup and its chain as a
    /// restore would read it (digests, every item); non-zero on any problem
    Verify {
        /// A stored backup (key, file name or timestamp from `backup list`), or latest
        #[arg(default_value = "latest")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct BackupDiffArgs {
    /// The state before: a stored backup (key, file name, timestamp or
    /// latest), a backup file (gzip is recognised), or live (the current state)
    pub a: String,
    /// The state after, as A
    pub b: String,
    /// Output format (json and jsonc: the documented JSON shape)
    #[arg(short = 'f', long, value_enum, default_value = "simple")]
    pub format: Format,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["file", "from_bucket", "from_published"])))]
pub struct RestoreArgs {
    /// Backup file (gzip is recognised), or - for standard input
    pub file: Option<PathBuf>,
    /// Restore a backup stored in the bucket (a key or timestamp from
    /// `backup list`, or latest), replaying an increment's chain
    #[arg(long, value_name = "KEY")]
    pub from_bucket: Option<String>,
    /// Rebuild the items from the published dists/ indices (state lost, no backup)
    #[arg(long)]
    pub from_published: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Distribution (repeatable)
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
    /// Component (repeatable)
    #[arg(short = 'c', long = "component")]
    pub comps: Vec<String>,
    /// Show what would change and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete items (within the filters) that the backup does not have
    #[arg(long)]
    pub prune: bool,
    /// Restore a backup whose metadata lacks dists, comps or archs (the
    /// current configuration is kept)
    #[arg(long)]
    pub allow_missing_config: bool,
    #[command(flatten)]
    pub confirm: ConfirmArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check sizes only, not checksums
    #[arg(long)]
    pub fast: bool,
    /// Distribution (repeatable; default every one)
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to copy the state to: sqlite:PATH, simpledb:DOMAIN or dynamodb:TABLE
    #[arg(long, value_name = "URL", required_unless_present = "from_export")]
    pub to: Option<String>,
    /// Import a SimpleDB domain export (aws simpledbv2 start-domain-export) from
    /// s3://BUCKET/PREFIX into the configured state, checked as a whole first
    #[arg(long, value_name = "S3_URL", conflicts_with = "to")]
    pub from_export: Option<String>,
    /// Say what would be written, write nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (host:port); port 0 picks a free one
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// List directory contents (off: a directory answers 404)
    #[arg(long)]
    pub listings: bool,
    /// Requests answered at once
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub threads: usize,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write the public key(s) that sign the repository's Release files
    Export(KeyExportArgs),
}

#[derive(Debug, Args)]
pub struct KeyExportArgs {
    /// Write to FILE instead of standard output
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Binary OpenPGP (as `gpg --export` writes it) instead of ASCII armor
    #[arg(long)]
    pub binary: bool,
}

#[derive(Debug, Args)]
pub struct SourcesArgs {
    /// Distribution (repeatable; default: every configured one)
    #[arg(short = 'd', long = "distribution")]
    pub dists: Vec<String>,
    /// The repository's URL as clients reach it (default: the bucket's)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Architecture (repeatable; default: every configured one)
    #[arg(short = 'a', long = "architecture")]
    pub archs: Vec<String>,
    /// Name a keyring file on the client instead of embedding the key
    #[arg(long, value_name = "PATH")]
    pub key_path: Option<String>,
}
