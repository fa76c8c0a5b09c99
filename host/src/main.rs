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
    /// Manage the plugins of a running gateway, through its admin API. Authenticates with
    /// `SWITCHBOARD_ADMIN_TOKEN`, or an admin's API token in `SWITCHBOARD_TOKEN`.
    Plugins {
        /// The configuration file (its `server.listen` is where the gateway is reached).
        #[arg(long, default_value = "config.toml", global = true)]
        config: PathBuf,
        /// The gateway's base URL, instead of `http://` and the config's `server.listen`.
        #[arg(long, global = true)]
        url: Option<String>,
        #[command(subcommand)]
        command: PluginsCommand,
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

#[derive(Subcommand)]
enum PluginsCommand {
    /// Every plugin build the node runs, as JSON.
    List,
    /// Load `plugins.dir/NAME.wasm` again and swap it in if it passes its self-check; prints
    /// the new build, or why it was refused (exit status 1; the old build keeps serving).
    Reload { name: String },
    /// Put back the build NAME ran before its last reload.
    Rollback { name: String },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Agents { config, command } => agents(&config, command).await,
        Command::Plugins { config, url, command } => plugins(&config, url, command).await,
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

/// `switchboard plugins …`: one admin API call to the running gateway, its answer printed.
async fn plugins(config: &std::path::Path, url: Option<String>, command: PluginsCommand) -> anyhow::Result<()> {
    let base = match url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let settings = Config::load(config).with_context(|| format!("loading {}", config.display()))?;
            let mut listen = settings.server.listen;
            if listen.ip().is_unspecified() {
                // Listening on every address: this machine reaches it on loopback.
                listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{listen}")
        }
    };
    let token = ["SWITCHBOARD_ADMIN_TOKEN", "SWITCHBOARD_TOKEN"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|token| !token.is_empty()))
        .context("set SWITCHBOARD_ADMIN_TOKEN (or an admin's API token in SWITCHBOARD_TOKEN)")?;
    let client = reqwest::Client::new();
    let request = match &command {
        PluginsCommand::List => client.get(format!("{base}/api/v1/admin/plugins")),
        PluginsCommand::Reload { name } => client.post(format!("{base}/api/v1/admin/plugins/{name}/reload")),
        PluginsCommand::Rollback { name } => client.post(format!("{base}/api/v1/admin/plugins/{name}/rollback")),
    };
    let response = request.bearer_auth(token).send().await.with_context(|| format!("reaching the gateway at {base}"))?;
    let status = response.status();
    let body = response.text().await.context("reading the gateway's answer")?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value["error"]["message"].as_str().map(str::to_string))
            .unwrap_or(body);
        anyhow::bail!("{status}: {message}");
    }
    println!("{body}");
    Ok(())
}
