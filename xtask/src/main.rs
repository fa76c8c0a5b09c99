//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `run`   — build the plugins, then run the gateway with `config.toml` on SQLite;
//! - `test`  — build the plugins and test components once, install the Python test tools
//!   (`tests/requirements.txt`, into `target/py`), then run the whole test suite (on SQLite,
//!   and on PostgreSQL too when `TEST_DATABASE_URL` names a server);
//! - `plugins` — only build the plugins and test components;
//! - `bench` — build the plugins, the gateway and the benchmark harness in release, then run
//!   every benchmark scenario (`cargo xtask bench --quick` for a one-minute smoke run; any
//!   other arguments go to `switchboard-bench`, see docs/performance.md).
//!
//! Plugins are built for `wasm32-wasip2` (the target is installed with rustup if missing)
//! and copied to `target/plugins/<name>.wasm`, where `config.toml` and the tests find them.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

const USAGE: &str = "usage: cargo xtask <task> [args…]

tasks:
  run       build the plugins, then run the gateway with config.toml on SQLite
  test      build the plugins and test components, install the Python test tools, run every test
  plugins   build the plugins and test components into target/plugins
  bench     build in release and run the benchmark scenarios (--quick for a smoke run; other
            arguments go to switchboard-bench, see docs/performance.md)
";

/// (cargo package, installed file name) of every component the project builds.
const COMPONENTS: &[(&str, &str)] = &[
    ("switchboard-plugin-whatsapp", "whatsapp"),
    ("switchboard-plugin-messenger", "messenger"),
    ("switchboard-plugin-instagram", "instagram"),
    ("switchboard-plugin-twilio-sms", "twilio-sms"),
    ("switchboard-plugin-telegram", "telegram"),
    ("switchboard-plugin-email", "email"),
    ("switchboard-plugin-webchat", "webchat"),
    ("switchboard-policy-business-hours", "business-hours"),
    ("switchboard-policy-urgency", "urgency"),
    ("switchboard-policy-capacity", "capacity"),
    ("switchboard-policy-preference", "preference"),
    ("switchboard-policy-cost", "cost"),
    ("test-component-trap", "test-trap"),
    ("test-component-spin", "test-spin"),
    ("test-component-hog", "test-hog"),
    ("test-component-legacy", "test-legacy"),
    ("test-component-policy-trap", "test-policy-trap"),
];

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = project_root();
    match task.as_str() {
        "run" => {
            build_components(&root)?;
            let mut command = cargo();
            command.current_dir(&root).args(["run", "--release", "--package", "switchboard", "--", "serve", "--config", "config.toml"]);
            command.args(&rest);
            run(command)
        }
        "test" => {
            build_components(&root)?;
            let venv = python_env(&root)?;
            if std::env::var_os("TEST_DATABASE_URL").is_none_or(|url| url.is_empty()) {
                eprintln!("xtask: TEST_DATABASE_URL is not set: PostgreSQL variants of the tests will be skipped");
            }
            let mut command = cargo();
            command.current_dir(&root).args(["test", "--workspace"]).args(&rest);
            command.env("SWITCHBOARD_PLUGIN_DIR", plugin_dir(&root));
            command.env("SWITCHBOARD_TEST_VENV", &venv);
            run(command)
        }
        "plugins" => build_components(&root),
        "bench" => {
            build_components(&root)?;
            let mut build = cargo();
            build.current_dir(&root).args(["build", "--release", "-p", "switchboard", "-p", "switchboard-bench"]);
            run(build)?;
            let target = target_dir(&root);
            let mut command = Command::new(target.join("release").join("switchboard-bench"));
            command
                .current_dir(&root)
                .arg("--switchboard")
                .arg(target.join("release").join("switchboard"))
                .arg("--plugins")
                .arg(plugin_dir(&root))
                .arg("--out")
                .arg(target.join("bench"))
                .args(&rest);
            run(command)
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        // A usage mistake, not a failure: the usage alone, without an error chain or a
        // backtrace (which `RUST_BACKTRACE` would add to an `Err` from `main`).
        other => {
            if !other.is_empty() {
                eprintln!("cargo xtask: unknown task `{other}`\n");
            }
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

fn plugin_dir(root: &Path) -> PathBuf {
    target_dir(root).join("plugins")
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // `cargo run` gives xtask its own package's variables; passed on, they make the inner
    // cargo rebuild crates whose build scripts read them (ring, rustls, reqwest) every time
    // one switches between `cargo xtask …` and plain `cargo build`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_MANIFEST_") || ["CARGO_CRATE_NAME", "CARGO_BIN_NAME", "CARGO_PRIMARY_PACKAGE"].contains(&name.as_str()) {
            command.env_remove(name);
        }
    }
    command
}

fn run(mut command: Command) -> Result<()> {
    let status = command.status().with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(output) if String::from_utf8_lossy(&output.stdout).lines().any(|line| line.trim() == TARGET) => Ok(()),
        Ok(_) => {
            eprintln!("xtask: installing the {TARGET} target");
            run({
                let mut command = Command::new("rustup");
                command.args(["target", "add", TARGET]);
                command
            })
        }
        // No rustup: assume the toolchain was set up another way; cargo will say if not.
        Err(_) => Ok(()),
    }
}

/// The Python tools the tests run (`tests/requirements.txt`), in a virtual environment under
/// `target/py`; reinstalled only when the requirements change.
fn python_env(root: &Path) -> Result<PathBuf> {
    let venv = target_dir(root).join("py");
    let requirements = root.join("tests").join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(venv);
    }
    eprintln!("xtask: installing the Python test tools into {}", venv.display());
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run({
        let mut command = Command::new(&python);
        command.args(["-m", "venv", "--clear"]).arg(&venv);
        command
    })?;
    run({
        let mut command = Command::new(venv.join("bin").join("pip"));
        command.args(["install", "--quiet", "--disable-pip-version-check", "-r"]).arg(&requirements);
        command
    })?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(venv)
}

/// Build every plugin and test component in one cargo invocation and install the results.
fn build_components(root: &Path) -> Result<()> {
    ensure_wasm_target()?;
    let mut command = cargo();
    command.current_dir(root).args(["build", "--release", "--target", TARGET]);
    for (package, _) in COMPONENTS {
        command.args(["--package", package]);
    }
    run(command)?;
    let built = target_dir(root).join(TARGET).join("release");
    let installed = plugin_dir(root);
    std::fs::create_dir_all(&installed).with_context(|| format!("creating {}", installed.display()))?;
    for (package, name) in COMPONENTS {
        let from = built.join(format!("{}.wasm", package.replace('-', "_")));
        let to = installed.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    eprintln!("xtask: components installed in {}", installed.display());
    Ok(())
}
