//! The `switchboard` command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use switchboard::config::{Config, Secret};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Self-hosted omnichannel messaging gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// The configuration file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        json_logs: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve { config, json_logs } => {
            let filter = EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
            // Colours only on a terminal: log files and collectors get plain text.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            if json_logs {
                tracing_subscriber::fmt().json().with_env_filter(filter).init();
            } else {
                tracing_subscriber::fmt().with_ansi(ansi).with_env_filter(filter).init();
            }
            let mut settings = Config::load(&config).with_context(|| format!("loading {}", config.display()))?;
            // A PostgreSQL URL carries a password, which belongs in the environment, not the file.
            if let Some(url) = std::env::var("SWITCHBOARD_DATABASE_URL").ok().filter(|url| !url.is_empty()) {
                settings.database.url = url;
            }
            let admin_token = std::env::var("SWITCHBOARD_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()).map(Secret::new);
            let gateway = switchboard::start(settings, admin_token).await?;
            tokio::select! {
                result = tokio::signal::ctrl_c() => {
                    result.context("waiting for Ctrl-C")?;
                    tracing::info!("shutting down");
                    gateway.shutdown().await
                }
                result = terminate() => {
                    result?;
                    tracing::info!("shutting down");
                    gateway.shutdown().await
                }
            }
        }
    }
}

#[cfg(unix)]
async fn terminate() -> anyhow::Result<()> {
    let mut signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing SIGTERM handler")?;
    signal.recv().await;
    Ok(())
}

#[cfg(not(unix))]
async fn terminate() -> anyhow::Result<()> {
    std::future::pending().await
}
