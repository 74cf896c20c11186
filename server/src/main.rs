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
    let data_dir = cli.config.data_dir.clone();
    let server = match altyn_consent_server::start(cli.config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("listening on {}", server.base_url);
    println!(
        "receipt key: {}",
        hex::encode(server.receipt_key.as_bytes())
    );
    println!("policy key:  {}", hex::encode(server.policy_key.as_bytes()));
    if server.ca_pem.is_some() {
        println!("dev CA:      {}", data_dir.join("dev-ca.pem").display());
    }
    let _ = tokio::signal::ctrl_c().await;
    println!("shutting down");
    server.shutdown().await;
    std::process::ExitCode::SUCCESS
}
