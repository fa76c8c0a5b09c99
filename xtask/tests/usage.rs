//! `cargo xtask` with a task it does not know prints its usage and exits 2: no error chain,
//! no backtrace, even with `RUST_BACKTRACE` set (as it is in CI).

use std::process::Command;

#[test]
fn an_unknown_task_prints_the_usage_without_a_backtrace() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("deploy").env("RUST_BACKTRACE", "1").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("cargo xtask: unknown task `deploy`"), "{stderr}");
    for task in ["run", "test", "plugins", "bench"] {
        assert!(stderr.contains(&format!("\n  {task} ")), "the usage names `{task}`: {stderr}");
    }
    assert!(!stderr.contains("backtrace") && !stderr.contains("Error:"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn help_prints_the_usage_and_succeeds() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("help").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("usage: cargo xtask <task>"));
}
