//! The `lethe` binary as a process: building its command and running it.

/// The `lethe` binary, run from the project root with no `LETHE…` variables inherited.
pub fn lethe_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lethe"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("LETHE")) {
        command.env_remove(key);
    }
    command
}

/// Runs a command; whether it succeeded, and its stdout then stderr.
pub fn run_command(command: &mut std::process::Command) -> (bool, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}
