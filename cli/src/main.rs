//! `altyn-consent`: the terminal shell of the consent core. It decides
//! nothing itself: every command forwards to `ConsentClient`, exactly as the
//! Android and iOS shells do.

mod demo;
mod output;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use altyn_consent_core::ledger::verify_export;
use altyn_consent_core::policy::{render_document, render_section, RenderFormat};
use altyn_consent_core::store::{FileKeyProvider, KeyProvider, KeyringKeyProvider, StoreError};
use altyn_consent_core::sync::wire::parse_verifying_key;
use altyn_consent_core::sync::{StaticToken, SyncConfig, SyncReport};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient, ConsentError, OsStatus};
use clap::{Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Typical first run:
  altyn-consent policy show            read the policy (Russian, the authoritative text)
  altyn-consent accept --age-confirmed accept it, confirming you are 18 or older
  altyn-consent permission grant camera
  altyn-consent os-status camera granted   (what a phone's OS would report)
  altyn-consent status
  altyn-consent demo                   the whole journey against an embedded HTTPS server
  altyn-consent serve                  run the reference backend; then `sync` and `restore`

Exit codes:
  0  done
  1  an unexpected failure (I/O, a bug): the message says what
  2  the command line is wrong (see --help)
  3  refused by the consent rules (no 18+ attestation, a stale policy, an
     unknown permission, nothing to withdraw...): nothing was recorded
  4  the store cannot be opened (wrong or missing key, damaged file, newer
     app): nothing was changed
  5  verification failed: the ledger or an export was altered";

#[derive(Parser)]
#[command(name = "altyn-consent", version, about = "Altyncoin consent: policy, consents and their proof, from a terminal", after_help = AFTER_HELP)]
struct Cli {
    /// Folder of the encrypted consent store.
    #[arg(long, global = true, env = "ALTYN_CONSENT_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Where the store's database key is kept. `keyring`: the OS keyring
    /// (Linux: kernel keyutils, headless, lost at reboot; macOS: Keychain).
    /// `file`: a 0600 key file under --key-dir, kept across reboots.
    #[arg(long, global = true, value_enum, default_value_t = KeyStore::Keyring, env = "ALTYN_CONSENT_KEY_STORE")]
    key_store: KeyStore,

    /// Folder of key files for `--key-store file` (default: the user's config folder).
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
    /// Write the whole history as verifiable JSON (stdout, or --out).
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check the ledger's hash chain and the file, or an exported file.
    Verify {
        /// Verify this export instead of the store.
        #[arg(long)]
        export: Option<PathBuf>,
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
    /// Read the server's public keys and dev CA from a folder written by `serve`.
    #[arg(long, env = "ALTYN_SERVER_DATA_DIR")]
    server_data_dir: Option<PathBuf>,
    /// Trusted receipt key (64 hex digits); repeatable.
    #[arg(long)]
    server_key: Vec<String>,
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

impl RemoteArgs {
    fn config(&self) -> Result<SyncConfig, Failure> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| Failure::new(1, format!("cannot read {}: {e}", p.display())))
        };
        let mut server_keys = self.server_key.clone();
        let mut policy_keys = self.policy_key.clone();
        let mut ca = self.ca_file.as_deref().map(read).transpose()?;
        if let Some(dir) = &self.server_data_dir {
            server_keys.push(read(&dir.join("receipt-key.pub"))?);
            policy_keys.push(read(&dir.join("policy-key.pub"))?);
            if ca.is_none() && dir.join("dev-ca.pem").exists() {
                ca = Some(read(&dir.join("dev-ca.pem"))?);
            }
        }
        let parse = |keys: &[String]| -> Result<Vec<_>, Failure> {
            keys.iter()
                .map(|k| parse_verifying_key(k).map_err(|e| Failure::new(2, e.to_string())))
                .collect()
        };
        let mut config = SyncConfig::new(
            self.server.clone(),
            Arc::new(StaticToken(self.token.clone())),
        );
        config.server_keys = parse(&server_keys)?;
        config.policy_keys = parse(&policy_keys)?;
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
        .map_err(|e| Failure::new(1, format!("cannot start the async runtime: {e}")))
}

pub fn print_sync_report(report: &SyncReport) {
    println!(
        "sync: {} sent, {} acknowledged with {} signed receipt(s), {} parked, {} still waiting",
        report.sent, report.acknowledged, report.receipts, report.parked, report.pending
    );
    if let Some(why) = &report.stopped_because {
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
        let code = match &e {
            ConsentError::Store(
                StoreError::Sqlite(_) | StoreError::Io { .. } | StoreError::Decode(_),
            ) => 1,
            ConsentError::Store(_) => 4,
            ConsentError::LedgerBroken(_) | ConsentError::IntegrityCheckFailed(_) => 5,
            _ => 3,
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
            1,
            format!("no home folder to keep the {what} in: pass --{what}"),
        )
    })
}

fn open_client(cli: &Cli) -> Result<ConsentClient, Failure> {
    let data_dir = match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => default_dir(dirs::data_dir(), "data-dir")?,
    };
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
    ConsentClient::open(ClientConfig::new(data_dir, context(), keys)).map_err(|e| {
        let hint = matches!(&e, ConsentError::Store(StoreError::KeyUnavailable(_)))
            .then_some(" (on a machine without a usable keyring, use --key-store file)")
            .unwrap_or("");
        let mut failure = Failure::from(e);
        failure.message.push_str(hint);
        failure
    })
}

fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Demo { yes, locale } => demo::run(*yes, locale),
        Command::Serve { config } => runtime()?
            .block_on(altyn_consent_server::serve_until_ctrl_c(config.clone()))
            .map_err(|e| Failure::new(1, e.to_string())),
        Command::Verify { export: Some(path) } => {
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::new(1, format!("cannot read {}: {e}", path.display())))?;
            let report = verify_export(&bytes).map_err(|e| Failure::new(5, e.to_string()))?;
            println!(
                "export verified: {} events, chain head {}",
                report.events, report.head_hash
            );
            Ok(())
        }
        _ => run_with_store(&cli),
    }
}

fn run_with_store(cli: &Cli) -> Result<(), Failure> {
    let client = open_client(cli)?;
    match &cli.command {
        Command::Policy {
            command:
                PolicyCommand::Show {
                    section,
                    locale,
                    markdown,
                },
        } => {
            let doc = client.policy(locale);
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
                Some(id) => {
                    render_section(&doc, id, format).map_err(|e| Failure::new(3, e.to_string()))?
                }
                None => render_document(&doc, format),
            };
            print!("{text}");
        }
        Command::Policy {
            command: PolicyCommand::Info,
        } => {
            let doc = client.policy("ru");
            println!("policy:         {}", doc.id);
            println!("version:        {}", doc.version);
            println!("effective date: {}", doc.effective_date);
            println!("hash (sha-256): {}", doc.hash());
            println!("languages:      {}", client.policy_locales().join(", "));
            println!(
                "sections:       {}, clauses: {}",
                doc.sections.len(),
                doc.clauses().count()
            );
        }
        Command::Status { json } => {
            let state = client.state()?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&state).expect("state serialises")
                );
            } else {
                output::print_state(&state, &client.catalog(), client.pending_upload()?);
                output::print_sync_status(&client.sync_status()?);
            }
        }
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
                output::print_permission(&client.withdraw(name)?, name)
            }
            PermissionCommand::List { locale } => {
                output::print_catalog(&client.catalog(), &client.policy(locale), locale)
            }
        },
        Command::WithdrawAll => {
            let state = client.withdraw_all()?;
            println!(
                "every consent withdrawn; policy: {}",
                altyn_consent_core::describe_policy_status(&state.policy)
            );
        }
        Command::OsStatus { permission, status } => {
            let status: OsStatus =
                status
                    .parse()
                    .map_err(|e: altyn_consent_core::permissions::CatalogError| {
                        Failure::new(3, e.to_string())
                    })?;
            output::print_permission(&client.report_os_status(permission, status)?, permission);
        }
        Command::LinkAccount { account_id } => {
            client.link_account(account_id)?;
            println!("installation linked; later events carry the account id as their subject");
        }
        Command::History { json } => {
            let events = client.history()?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&events).expect("events serialise")
                );
            } else {
                output::print_history(&events);
            }
        }
        Command::Export { out } => {
            let export = client.export()?;
            match out {
                Some(path) => {
                    std::fs::write(path, &export).map_err(|e| {
                        Failure::new(1, format!("cannot write {}: {e}", path.display()))
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
        Command::Verify { export: None } => {
            let report = client.verify()?;
            println!(
                "ledger verified: {} events, chain head {}; file integrity (SQLCipher HMAC + SQLite) ok",
                report.events, report.head_hash
            );
        }
        Command::Policy {
            command: PolicyCommand::Changes,
        } => match client.policy_changes()? {
            Some(diff) => print!("{}", diff.to_text()),
            None => println!("no new policy version waits for consent"),
        },
        Command::Sync { remote } => {
            let config = remote.config()?;
            let report = runtime()?.block_on(client.sync(&config))?;
            print_sync_report(&report);
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
        Command::Demo { .. } | Command::Serve { .. } | Command::Verify { export: Some(_) } => {
            unreachable!("handled without the store")
        }
    }
    Ok(())
}
