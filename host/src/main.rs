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
    /// Manage agents (for the first admin, or automation).
    Agents {
        /// The configuration file (its database is used).
        #[arg(long, default_value = "config.toml", global = true)]
        config: PathBuf,
        #[command(subcommand)]
        command: AgentsCommand,
    },
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

#[derive(Subcommand)]
enum AgentsCommand {
    /// Create an agent. The password is read from the environment variable
    /// `SWITCHBOARD_AGENT_PASSWORD`, or from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// `admin` or `agent`.
        #[arg(long, default_value = "agent")]
        role: String,
    },
    /// List agents as JSON lines.
    List,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Agents { config, command } => agents(&config, command).await,
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

async fn agents(config: &std::path::Path, command: AgentsCommand) -> anyhow::Result<()> {
    use switchboard::auth::{password, Role};
    use switchboard::store::agents::NewAgent;
    let mut settings = Config::load(config).with_context(|| format!("loading {}", config.display()))?;
    if let Some(url) = std::env::var("SWITCHBOARD_DATABASE_URL").ok().filter(|url| !url.is_empty()) {
        settings.database.url = url;
    }
    let store = switchboard::store::Store::open(&settings.database)
        .await
        .with_context(|| format!("opening database {}", switchboard::config::redact_url_password(&settings.database.url)))?;
    match command {
        AgentsCommand::Create { email, name, role } => {
            let role = Role::parse(&role).with_context(|| format!("unknown role `{role}`: use admin or agent"))?;
            let secret = match std::env::var("SWITCHBOARD_AGENT_PASSWORD").ok().filter(|p| !p.is_empty()) {
                Some(secret) => secret,
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let password_hash = password::hash(&secret).context("the password")?;
            let agent = NewAgent { email, display_name: name, role, password_hash: Some(password_hash), max_conversations: 10 };
            let created = store.create_agent(&agent).await.context("creating the agent")?;
            println!("{}", serde_json::to_string(&created)?);
        }
        AgentsCommand::List => {
            for agent in store.agents().await.context("listing agents")? {
                println!("{}", serde_json::to_string(&agent)?);
            }
        }
    }
    Ok(())
}
