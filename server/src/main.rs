//! `altyn-consent-server`: the reference sync backend on its own.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "altyn-consent-server",
    version,
    about = "Reference sync backend of Altyn Consent (HTTPS only)"
)]
struct Cli {
    #[command(flatten)]
    config: altyn_consent_server::ServerConfig,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ALTYN_SERVER_LOG")
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = altyn_consent_server::serve_until_ctrl_c(cli.config).await {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}
