//! `altyn-consent`: the terminal shell of the consent core. It decides
//! nothing itself: every command forwards to `ConsentClient`, exactly as the
//! Android and iOS shells do.

// Every line goes through `write_stdout`: a closed pipe (`| head -1`)
// ends the program quietly instead of panicking. Defined before the
// modules, so they use these too.
macro_rules! println {
    () => {
        $crate::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

macro_rules! print {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

mod demo;
mod exit;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use std::io::{IsTerminal, Write};

use altyn_consent_core::permissions::PermissionCatalog;
use altyn_consent_core::policy::{render_document, render_section, PolicyDocument, RenderFormat};
use altyn_consent_core::proof::{verify_export, ExportError};
use altyn_consent_core::store::{FileKeyProvider, KeyProvider, KeyringKeyProvider};
use altyn_consent_core::sync::wire::parse_verifying_key;
use altyn_consent_core::sync::{StaticToken, SyncConfig, SyncReport};
use altyn_consent_core::{
    AppContext, ClientConfig, ConsentClient, ConsentError, ErrorKind, OsStatus,
};
use clap::{Parser, Subcommand, ValueEnum};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

const AFTER_HELP: &str = "\
Typical first run:
  altyn-consent policy show            read the policy (Russian, the authoritative text)
  altyn-consent accept --age-confirmed accept it, confirming you are 18 or older
  altyn-consent permission grant camera
  altyn-consent os-status camera granted   (what a phone's OS would report)
  altyn-consent status
  altyn-consent demo                   the whole journey against an embedded HTTPS server
  altyn-consent serve                  run the reference backend; then `sync` and `restore`

Exit codes (from the kind of failure, see core/docs/errors.md):
  0  done
  1  reading or writing files failed, or a bug: the message says what
  2  the command line or the setup is wrong (see --help; e.g. verify without
     the server key its receipts need)
  3  refused by the consent rules (no 18+ attestation, a stale policy, an
     unknown permission, nothing to withdraw, restore into a store with
     events...): nothing was recorded
  4  the store cannot be opened (missing, damaged, key lost, from a newer
     app, none yet): nothing was changed. `altyn-consent recover` is the way
     out of missing, damaged and key lost
  5  verification failed: the ledger, its receipts or an export was altered
  6  the server could not be reached or refused: nothing was lost, the
     decisions wait for the next sync
  7  the keystore is locked or busy: try again; the store is intact";

#[derive(Parser)]
#[command(name = "altyn-consent", version, about = "Altyncoin consent: policy, consents and their proof, from a terminal", after_help = AFTER_HELP)]
struct Cli {
    /// Folder of the encrypted consent store.
    #[arg(long, global = true, env = "ALTYN_CONSENT_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Where the store's database key is kept. `file` (the default, except
    /// on macOS): a 0600 key file under --key-dir, kept across reboots.
    /// `keyring`: the OS keyring (macOS's default: the Keychain; Linux:
    /// kernel keyutils, which loses the key at reboot).
    #[arg(long, global = true, value_enum, default_value_t = KeyStore::platform_default(), env = "ALTYN_CONSENT_KEY_STORE")]
    key_store: KeyStore,

    /// Folder of key files for `--key-store file` (default: `altyn-consent/keys`
    /// in the user's config folder, e.g. ~/.config on Linux).
    #[arg(long, global = true, env = "ALTYN_CONSENT_KEY_DIR")]
    key_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyStore {
    Keyring,
    File,
}

impl KeyStore {
    /// A key file works on any fresh machine; macOS's Keychain persists
    /// and is what a Mac user expects.
    fn platform_default() -> Self {
        if cfg!(target_os = "macos") {
            KeyStore::Keyring
        } else {
            KeyStore::File
        }
    }
}

/// What `export` writes.
#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// The verifiable export: the events, the policy texts they refer to,
    /// and the server's signed receipts (`verify --export` checks it).
    Ledger,
    /// Consent records in the structure of ISO/IEC TS 27560:2023 and the
    /// Kantara Consent Receipt v1.1 (JSON Schema:
    /// core/schema/iso-27560-consent-records.schema.json).
    #[value(name = "iso-27560")]
    Iso27560,
}

#[derive(Subcommand)]
enum StatementsCommand {
    /// Every statement, oldest first, with its delivery.
    List,
    /// One statement.
    Show {
        /// The statement's id (from `statements list`), or `latest`.
        id: String,
        #[arg(long, value_enum, default_value_t = StatementFormat::Text)]
        format: StatementFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StatementFormat {
    Text,
    Markdown,
    Json,
    Mailto,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ConcernArg {
    UnauthorizedAccess,
    ConfidentialityBreach,
}

#[derive(Subcommand)]
enum Command {
    /// Show the privacy policy, whole or one section.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Show the consent state: policy, each permission, the ledger.
    Status {
        /// Print the state as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept the current policy version (needs the 18+ attestation).
    Accept {
        /// Confirm that you are 18 or older (preamble, §11.1). Required.
        #[arg(long)]
        age_confirmed: bool,
        /// Language of the text you read.
        #[arg(long, default_value = "ru")]
        locale: String,
    },
    /// Object to the current policy version (§10.4).
    Object {
        #[arg(long, default_value = "ru")]
        locale: String,
    },
    /// Decide on a device permission, or list them.
    Permission {
        #[command(subcommand)]
        command: PermissionCommand,
    },
    /// Withdraw every consent, the policy's included (§6.1.5).
    WithdrawAll,
    /// Withdraw the consent for one purpose, a §4.2 clause id such as 4.2.5
    /// (§6.1.5): every permission allowed for it.
    WithdrawPurpose { purpose: String },
    /// The written statements (§6.1.5 withdrawals, §10.4 objections): list
    /// them, or show one as text, Markdown, JSON or a mailto link.
    Statements {
        #[command(subcommand)]
        command: StatementsCommand,
    },
    /// Report unauthorised access or a suspected breach of your data
    /// (§5.7): access is blocked until the Company restores it.
    ReportCompromise {
        #[arg(long, value_enum)]
        concern: ConcernArg,
        /// What happened, in your own words (optional).
        #[arg(long, default_value = "")]
        details: String,
    },
    /// Report what the operating system says about a permission.
    OsStatus {
        /// Permission id, e.g. camera (see `permission list`).
        permission: String,
        /// not_determined, granted, limited, denied, blocked or unavailable.
        status: String,
    },
    /// Link this installation to an account id (later events carry it).
    LinkAccount { account_id: String },
    /// Show every recorded decision, oldest first.
    History {
        #[arg(long)]
        json: bool,
    },
    /// Write the whole history as JSON (stdout, or --out): the verifiable
    /// export, or ISO/IEC TS 27560 consent records (--format iso-27560).
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
        /// What to write.
        #[arg(long, value_enum, default_value_t = ExportFormat::Ledger)]
        format: ExportFormat,
    },
    /// Check everything the proof rests on: the hash chain, the state, the
    /// server's signed receipts (with the server's key) and every page of the
    /// file; or an exported file. Writes nothing.
    Verify {
        /// Verify this export instead of the store.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Also compare the ledger with the server's own copy (its receipts
        /// and events): catches receipts deleted from the store.
        #[arg(long, conflicts_with = "export")]
        online: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Recover a store that cannot be read (missing, damaged, key lost):
    /// its files are moved into quarantine/ (kept), a new ledger records the
    /// loss, and what the server holds is restored first. Refused for a
    /// readable store, a locked keystore or a store from a newer app.
    Recover {
        /// Do not ask the server: the new ledger starts with the loss alone.
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Upload waiting decisions to the backend and fetch the current policy (one pass).
    Sync {
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Rebuild an empty store from the backend (a reinstall or a new device).
    Restore {
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Run the reference sync backend (HTTPS) until Ctrl-C.
    Serve {
        #[command(flatten)]
        config: altyn_consent_server::ServerConfig,
    },
    /// Walk the whole borrower journey against an embedded HTTPS server, in a
    /// fresh, throw-away encrypted store.
    Demo {
        /// Answer yes to every question (for scripts and CI).
        #[arg(long)]
        yes: bool,
        /// Language of the texts shown.
        #[arg(long, default_value = "ru")]
        locale: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the current policy.
    Show {
        /// One section or clause with its sub-clauses, e.g. 6 or 6.1.
        #[arg(long)]
        section: Option<String>,
        /// Language; falls back to Russian, the authoritative text.
        #[arg(long, default_value = "ru")]
        locale: String,
        /// Print Markdown instead of plain text.
        #[arg(long)]
        markdown: bool,
    },
    /// Print the current version, its hash and languages.
    Info,
    /// While a new version waits for consent: what changed, clause by clause (§10.3).
    Changes,
}

/// Where the backend is and how to trust it.
#[derive(clap::Args)]
struct RemoteArgs {
    /// Base URL of the backend (https://, or http:// to loopback).
    #[arg(
        long,
        env = "ALTYN_CONSENT_SERVER",
        default_value = "https://127.0.0.1:8443/"
    )]
    server: String,
    /// Access token.
    #[arg(
        long,
        env = "ALTYN_CONSENT_TOKEN",
        default_value = "dev-token",
        hide_env_values = true
    )]
    token: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// Trusted policy key (64 hex digits); repeatable.
    #[arg(long)]
    policy_key: Vec<String>,
    /// Extra CA certificate to trust (PEM), for a development server.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// SPKI pin (base64 SHA-256) the server's key must match; repeatable.
    #[arg(long)]
    pin: Vec<String>,
}

/// Which server keys to trust for receipts.
#[derive(clap::Args)]
struct TrustArgs {
    /// Read the server's public keys (and dev CA) from a folder written by `serve`.
    #[arg(long, env = "ALTYN_SERVER_DATA_DIR")]
    server_data_dir: Option<PathBuf>,
    /// Trusted receipt key (64 hex digits); repeatable.
    #[arg(long)]
    server_key: Vec<String>,
}

fn read_text(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::new(exit::SETUP, format!("cannot read {}: {e}", path.display())))
}

fn parse_keys(keys: &[String]) -> Result<Vec<VerifyingKey>, Failure> {
    keys.iter()
        .map(|k| parse_verifying_key(k).map_err(|e| Failure::new(exit::SETUP, e.to_string())))
        .collect()
}

/// The public keys a server's data folder lists: every key of the ring
/// (`NAME-keys.pub`, one per line, kept across rotations), or the active
/// one alone (`NAME-key.pub`, servers before key rotation).
fn keys_in(dir: &std::path::Path, name: &str) -> Result<Vec<String>, Failure> {
    let ring = dir.join(format!("{name}-keys.pub"));
    if ring.exists() {
        Ok(read_text(&ring)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    } else {
        Ok(vec![read_text(&dir.join(format!("{name}-key.pub")))?])
    }
}

impl TrustArgs {
    fn server_keys(&self) -> Result<Vec<VerifyingKey>, Failure> {
        let mut keys = self.server_key.clone();
        if let Some(dir) = &self.server_data_dir {
            keys.extend(keys_in(dir, "receipt")?);
        }
        parse_keys(&keys)
    }
}

impl RemoteArgs {
    fn config(&self) -> Result<SyncConfig, Failure> {
        let mut policy_keys = self.policy_key.clone();
        let mut ca = self.ca_file.as_deref().map(read_text).transpose()?;
        if let Some(dir) = &self.trust.server_data_dir {
            policy_keys.extend(keys_in(dir, "policy")?);
            if ca.is_none() && dir.join("dev-ca.pem").exists() {
                ca = Some(read_text(&dir.join("dev-ca.pem"))?);
            }
        }
        let mut config = SyncConfig::new(
            self.server.clone(),
            Arc::new(StaticToken(self.token.clone())),
        );
        config.server_keys = self.trust.server_keys()?;
        config.policy_keys = parse_keys(&policy_keys)?;
        config.extra_ca_pem = ca;
        config.spki_pins = self.pin.clone();
        Ok(config)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot start the async runtime: {e}"),
            )
        })
}

/// Writes to standard output; a closed pipe ends the program quietly.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(exit::FAILURE.into());
    }
}

pub fn print_sync_report(report: &SyncReport) {
    println!(
        "sync: {} sent, {} acknowledged with {} signed receipt(s), {} parked, {} still waiting",
        report.sent, report.acknowledged, report.receipts, report.parked, report.pending
    );
    if let Some(why) = report.stopped_because() {
        println!("stopped early: {why}");
    }
    if let Some(secs) = report.next_retry_in_secs {
        println!("next pass in {secs} s");
    }
    if let Some(version) = report.policy_updated_to {
        println!("policy version {version} arrived: it needs the user's consent (altyn-consent policy changes)");
    }
}

#[derive(Subcommand)]
enum PermissionCommand {
    /// Allow a device function for the purposes it names.
    Grant { name: String },
    /// Refuse a device function.
    Deny { name: String },
    /// Withdraw a consent given before (§6.1.5).
    Withdraw { name: String },
    /// List the permissions, their purposes and platform names.
    List {
        #[arg(long, default_value = "ru")]
        locale: String,
    },
}

/// A failure with its exit code.
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<ConsentError> for Failure {
    fn from(e: ConsentError) -> Self {
        Failure::new(exit::code(e.kind()), e.to_string())
    }
}

impl From<ExportError> for Failure {
    fn from(e: ExportError) -> Self {
        let code = match e {
            ExportError::NoTrustedKey { .. } => exit::SETUP,
            _ => exit::VERIFICATION,
        };
        Failure::new(code, e.to_string())
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ALTYN_CONSENT_LOG")
        .unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

pub fn context() -> AppContext {
    AppContext::new("desktop", env!("CARGO_PKG_VERSION"), std::env::consts::OS)
}

fn default_dir(base: Option<PathBuf>, what: &str) -> Result<PathBuf, Failure> {
    base.map(|b| b.join("altyn-consent")).ok_or_else(|| {
        Failure::new(
            exit::SETUP,
            format!("no home folder to keep the {what} in: pass --{what}"),
        )
    })
}

fn data_dir(cli: &Cli) -> Result<PathBuf, Failure> {
    match &cli.data_dir {
        Some(dir) => Ok(dir.clone()),
        None => default_dir(dirs::data_dir(), "data-dir"),
    }
}

fn client_config(cli: &Cli, server_keys: Vec<VerifyingKey>) -> Result<ClientConfig, Failure> {
    let data_dir = data_dir(cli)?;
    let keys: Arc<dyn KeyProvider> = match cli.key_store {
        KeyStore::Keyring => Arc::new(KeyringKeyProvider::new()),
        KeyStore::File => {
            let dir = match &cli.key_dir {
                Some(dir) => dir.clone(),
                None => default_dir(dirs::config_dir(), "key-dir")?.join("keys"),
            };
            Arc::new(FileKeyProvider::new(dir))
        }
    };
    // One key store serves every store folder of this user, so each folder
    // has its own installation marker (an app has one store and one marker).
    let absolute = std::path::absolute(&data_dir).unwrap_or_else(|_| data_dir.clone());
    let folder_id = hex::encode(&Sha256::digest(absolute.to_string_lossy().as_bytes())[..8]);
    let mut config = ClientConfig::new(data_dir, context(), keys);
    config.installation_marker = format!("altyn-consent-installation-{folder_id}");
    config.server_keys = server_keys;
    Ok(config)
}

fn open_client(cli: &Cli) -> Result<ConsentClient, Failure> {
    Ok(ConsentClient::open(client_config(cli, Vec::new())?)?)
}

/// For commands that only read: writes nothing. `Ok(None)` before the
/// first start (no store yet).
fn open_for_reading(
    cli: &Cli,
    server_keys: Vec<VerifyingKey>,
) -> Result<Option<ConsentClient>, Failure> {
    match ConsentClient::open_read_only(client_config(cli, server_keys)?) {
        Ok(client) => Ok(Some(client)),
        Err(e) if e.kind() == ErrorKind::NoStoreYet => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Demo { yes, locale } => demo::run(*yes, locale),
        Command::Serve { config } => runtime()?
            .block_on(altyn_consent_server::serve_until_ctrl_c(config.clone()))
            .map_err(|e| Failure::new(exit::FAILURE, e.to_string())),
        Command::Verify {
            export: Some(path),
            remote,
            ..
        } => {
            let bytes = std::fs::read(path).map_err(|e| {
                Failure::new(
                    exit::FAILURE,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let report = verify_export(&bytes, &remote.trust.server_keys()?)?;
            println!(
                "export verified: {} events, chain head {}; {} signed receipt(s) cover {} event(s)",
                report.chain.events,
                report.chain.head_hash,
                report.coverage.receipts,
                report.coverage.acknowledged
            );
            let unproven = report.chain.events - report.coverage.acknowledged;
            if unproven > 0 {
                println!(
                    "{unproven} event(s) are proven by the chain alone (no receipt covers them yet); the server's copy is the check for those"
                );
            }
            Ok(())
        }
        Command::Recover { offline, remote } => recover(&cli, *offline, remote),
        Command::Policy { .. }
        | Command::Status { .. }
        | Command::History { .. }
        | Command::Export { .. }
        | Command::Verify { .. }
        | Command::Statements { .. }
        | Command::Permission {
            command: PermissionCommand::List { .. },
        } => run_reading(&cli),
        _ => run_with_store(&cli),
    }
}

fn recover(cli: &Cli, offline: bool, remote: &RemoteArgs) -> Result<(), Failure> {
    let sync = if offline {
        None
    } else {
        Some(remote.config()?)
    };
    let config = client_config(cli, remote.trust.server_keys()?)?;
    let recovered = runtime()?.block_on(ConsentClient::recover(config, sync.as_ref()))?;
    let report = &recovered.report;
    println!(
        "recovered a store that could not be read ({})",
        report.reason
    );
    match &report.quarantine {
        Some(path) => println!("its files were moved, untouched, to {path}"),
        None => println!("no file of it was left to keep"),
    }
    match report.server_head_events {
        Some(head) => println!(
            "restored {} event(s) from the server (its copy ends at #{head}); the loss is recorded as event #{}",
            report.restored_events,
            head + 1
        ),
        None if offline => {
            println!("the server was not asked (--offline): the new ledger starts with the loss")
        }
        None => println!(
            "the server holds no events for this account: the new ledger starts with the loss"
        ),
    }
    let state = recovered.client.state()?;
    println!(
        "policy: {}",
        altyn_consent_core::describe_policy_status(&state.policy)
    );
    Ok(())
}

/// Commands that only read. Before a first start there is no store, and
/// none is created: the bundled policy and catalog are what an app shows.
fn run_reading(cli: &Cli) -> Result<(), Failure> {
    let trust = match &cli.command {
        Command::Verify { remote, .. } => remote.trust.server_keys()?,
        _ => Vec::new(),
    };
    let client = open_for_reading(cli, trust)?;
    let policy_for = |locale: &str| match &client {
        Some(client) => client.policy(locale),
        None => PolicyDocument::bundled(),
    };
    match &cli.command {
        Command::Policy {
            command:
                PolicyCommand::Show {
                    section,
                    locale,
                    markdown,
                },
        } => {
            let doc = policy_for(locale);
            if doc.locale != *locale {
                eprintln!(
                    "(no {locale:?} text; showing {:?}, the authoritative text)",
                    doc.locale
                );
            }
            let format = if *markdown {
                RenderFormat::Markdown
            } else {
                RenderFormat::PlainText
            };
            let text = match section {
                Some(id) => render_section(&doc, id, format)
                    .map_err(|e| Failure::new(exit::RULES, e.to_string()))?,
                None => render_document(&doc, format),
            };
            print!("{text}");
        }
        Command::Policy {
            command: PolicyCommand::Info,
        } => {
            let doc = policy_for("ru");
            let locales = match &client {
                Some(client) => client.policy_locales(),
                None => vec![doc.locale.clone()],
            };
            println!("policy:         {}", doc.id);
            println!("version:        {}", doc.version);
            println!("effective date: {}", doc.effective_date);
            println!("hash (sha-256): {}", doc.hash());
            println!("languages:      {}", locales.join(", "));
            println!(
                "sections:       {}, clauses: {}",
                doc.sections.len(),
                doc.clauses().count()
            );
        }
        Command::Policy {
            command: PolicyCommand::Changes,
        } => match client
            .as_ref()
            .map(|c| c.policy_changes())
            .transpose()?
            .flatten()
        {
            Some(diff) => print!("{}", diff.to_text()),
            None => println!("no new policy version waits for consent"),
        },
        Command::Permission {
            command: PermissionCommand::List { locale },
        } => {
            let catalog = match &client {
                Some(client) => client.catalog(),
                None => PermissionCatalog::bundled(),
            };
            output::print_catalog(&catalog, &policy_for(locale), locale)
        }
        Command::Statements { command } => match command {
            StatementsCommand::List => {
                let statements = match &client {
                    Some(client) => client.statements()?,
                    None => Vec::new(),
                };
                if statements.is_empty() {
                    println!("no statements yet (withdrawals and objections draw them up)");
                }
                for st in statements {
                    let delivery = match &st.delivered_at {
                        Some(at) if st.continuing.is_empty() => format!("received by the Company at {at}"),
                        Some(at) => format!(
                            "received by the Company at {at}; {} processing(s) continue on a legal basis",
                            st.continuing.len()
                        ),
                        None => "not delivered yet (goes with the next sync)".into(),
                    };
                    println!(
                        "{}  #{:<4} {}  {}  {}",
                        st.id, st.seq, st.issued_at, st.title, delivery
                    );
                }
            }
            StatementsCommand::Show { id, format } => {
                let Some(client) = &client else {
                    return Err(Failure::new(
                        exit::RULES,
                        format!("no statement {id:?}: nothing has been recorded yet"),
                    ));
                };
                let st = if id == "latest" {
                    client.statements()?.pop().ok_or_else(|| {
                        Failure::new(
                            exit::RULES,
                            "no statement yet: withdrawals and objections draw them up",
                        )
                    })?
                } else {
                    client.statement(id)?
                };
                match format {
                    StatementFormat::Text => print!("{}", st.text),
                    StatementFormat::Markdown => print!("{}", st.markdown),
                    StatementFormat::Json => println!("{}", st.json),
                    StatementFormat::Mailto => println!("{}", st.mailto),
                }
                if !matches!(format, StatementFormat::Json | StatementFormat::Mailto) {
                    match &st.delivered_at {
                        Some(at) => {
                            println!("\nПолучено Компанией: {at}");
                            for hold in &st.continuing {
                                println!(
                                    "Обработка продолжается на законном основании: {} ({}){}",
                                    hold.categories.join(", "),
                                    hold.basis,
                                    hold.until
                                        .as_deref()
                                        .map(|u| format!(", до {u}"))
                                        .unwrap_or_default()
                                );
                            }
                        }
                        None => {
                            println!("\n(ещё не доставлено: уйдёт со следующей синхронизацией)")
                        }
                    }
                }
            }
        },
        Command::Status { json } => {
            let Some(client) = &client else {
                if *json {
                    println!("{{\"store\": null}}");
                } else {
                    println!(
                        "No consent store yet in {}: nothing has been recorded on this installation.",
                        data_dir(cli)?.display()
                    );
                    println!("Read the policy (altyn-consent policy show), then accept it (altyn-consent accept --age-confirmed).");
                }
                return Ok(());
            };
            let state = client.state()?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&state).expect("state serialises")
                );
            } else {
                output::print_state(&state, &client.catalog(), client.pending_upload()?);
                output::print_sync_status(&client.sync_status()?);
                output::print_integrity(&client.integrity_glance()?, &client.quarantined());
            }
        }
        Command::History { json } => {
            let events = match &client {
                Some(client) => client.history()?,
                None => Vec::new(),
            };
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&events).expect("events serialise")
                );
            } else {
                output::print_history(&events);
            }
        }
        Command::Export { out, format } => {
            let client = client.ok_or_else(|| no_store(cli))?;
            let export = match format {
                ExportFormat::Ledger => client.export()?,
                ExportFormat::Iso27560 => client.export_iso27560()?,
            };
            match out {
                Some(path) => {
                    std::fs::write(path, &export).map_err(|e| {
                        Failure::new(
                            exit::FAILURE,
                            format!("cannot write {}: {e}", path.display()),
                        )
                    })?;
                    eprintln!(
                        "export written to {} ({} events)",
                        path.display(),
                        client.event_count()
                    );
                }
                None => println!("{export}"),
            }
        }
        Command::Verify {
            export: None,
            online,
            remote,
        } => {
            let client = client.ok_or_else(|| no_store(cli))?;
            let report = if *online {
                let online = runtime()?.block_on(client.verify_online(&remote.config()?))?;
                println!(
                    "against the server's copy: {} receipt(s) of the server cover {} event(s), all present and equal",
                    online.server_receipts, online.server_acknowledged
                );
                online.local
            } else {
                client.verify()?
            };
            println!(
                "ledger verified: {} events, chain head {}; {} signed receipt(s) cover {} event(s), {} waiting for upload; file integrity (SQLCipher HMAC + SQLite) ok",
                report.events,
                report.head_hash,
                report.receipts,
                report.acknowledged,
                report.waiting
            );
        }
        _ => unreachable!("only reading commands come here"),
    }
    Ok(())
}

fn no_store(cli: &Cli) -> Failure {
    Failure::new(
        exit::code(ErrorKind::NoStoreYet),
        format!(
            "there is no consent store in {} yet: nothing to read",
            data_dir(cli)
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        ),
    )
}

fn run_with_store(cli: &Cli) -> Result<(), Failure> {
    let client = open_client(cli)?;
    match &cli.command {
        Command::Accept {
            age_confirmed,
            locale,
        } => {
            let doc = client.policy(locale);
            // The core decides; the shell only says how to give the attestation.
            let state = client
                .accept_policy(doc.version, &doc.hash(), &doc.locale, *age_confirmed)
                .map_err(|e| {
                    let missing_age = matches!(e, ConsentError::AgeNotConfirmed);
                    let mut failure = Failure::from(e);
                    if missing_age {
                        failure
                            .message
                            .push_str(" (pass --age-confirmed to confirm you are 18 or older)");
                    }
                    failure
                })?;
            println!(
                "accepted {} version {} ({}), hash {}",
                doc.id,
                doc.version,
                doc.locale,
                doc.hash()
            );
            println!(
                "policy: {}",
                altyn_consent_core::describe_policy_status(&state.policy)
            );
        }
        Command::Object { locale } => {
            let doc = client.policy(locale);
            let state = client.object_to_policy(doc.version, &doc.hash(), &doc.locale)?;
            println!("objection to {} version {} recorded", doc.id, doc.version);
            print_new_statement(&client)?;
            println!(
                "policy: {}",
                altyn_consent_core::describe_policy_status(&state.policy)
            );
        }
        Command::Permission { command } => match command {
            PermissionCommand::Grant { name } => {
                output::print_permission(&client.set_permission(name, true)?, name)
            }
            PermissionCommand::Deny { name } => {
                output::print_permission(&client.set_permission(name, false)?, name)
            }
            PermissionCommand::Withdraw { name } => {
                output::print_permission(&client.withdraw(name)?, name);
                print_new_statement(&client)?;
            }
            PermissionCommand::List { .. } => unreachable!("a reading command"),
        },
        Command::WithdrawAll => {
            let state = client.withdraw_all()?;
            println!(
                "every consent withdrawn; policy: {}",
                altyn_consent_core::describe_policy_status(&state.policy)
            );
            print_new_statement(&client)?;
        }
        Command::WithdrawPurpose { purpose } => {
            let state = client.withdraw_purpose(purpose)?;
            for p in state.permissions.iter().filter(|p| {
                p.consent == altyn_consent_core::UserConsent::Withdrawn
                    && p.consented_purposes.contains(purpose)
            }) {
                println!("{}: withdrawn", p.id);
            }
            print_new_statement(&client)?;
        }
        Command::ReportCompromise { concern, details } => {
            let concern = match concern {
                ConcernArg::UnauthorizedAccess => {
                    altyn_consent_core::ledger::Concern::UnauthorizedAccess
                }
                ConcernArg::ConfidentialityBreach => {
                    altyn_consent_core::ledger::Concern::ConfidentialityBreach
                }
            };
            let state = client.report_compromise(concern, details)?;
            let since = state.access_blocked.map(|b| b.since).unwrap_or_default();
            println!(
                "report recorded (§5.7); access blocked since {since} pending the Company's review"
            );
            println!("the next `sync` sends the report first; a later one brings the Company's signed decision");
        }
        Command::OsStatus { permission, status } => {
            let status: OsStatus =
                status
                    .parse()
                    .map_err(|e: altyn_consent_core::permissions::CatalogError| {
                        Failure::new(exit::RULES, e.to_string())
                    })?;
            output::print_permission(&client.report_os_status(permission, status)?, permission);
        }
        Command::LinkAccount { account_id } => {
            client.link_account(account_id)?;
            println!("installation linked; later events carry the account id as their subject");
        }
        Command::Sync { remote } => {
            let config = remote.config()?;
            let report = runtime()?.block_on(client.sync(&config))?;
            print_sync_report(&report);
            // A pass that could not do its work is a failure for scripts:
            // nothing is lost, the decisions wait for the next pass.
            if let Some(kind) = report.stop_kind() {
                return Err(Failure::new(
                    exit::code(kind),
                    format!(
                        "sync stopped early ({kind}): {} event(s) still wait for upload",
                        report.pending
                    ),
                ));
            }
        }
        Command::Restore { remote } => {
            let config = remote.config()?;
            let state = runtime()?.block_on(client.restore_from_server(&config))?;
            println!(
                "restored {} events; policy: {}",
                state.events,
                altyn_consent_core::describe_policy_status(&state.policy)
            );
        }
        _ => unreachable!("handled by run or run_reading"),
    }
    Ok(())
}

/// Prints the statement the last decision drew up, and how to send it.
fn print_new_statement(client: &ConsentClient) -> Result<(), Failure> {
    if let Some(st) = client.statements()?.pop() {
        println!(
            "written statement {} drawn up for {} (§{}); it goes to the Company with the next sync",
            st.id,
            st.recipient,
            st.kind.clause()
        );
        println!("  read it:  altyn-consent statements show {}", st.id);
        if st.kind == altyn_consent_core::statement::StatementKind::Objection {
            // §10.4: the objection goes to the address the policy names.
            println!("  send it:  {}", st.mailto);
        } else {
            println!(
                "  mail it:  altyn-consent statements show {} --format mailto",
                st.id
            );
        }
    }
    Ok(())
}
