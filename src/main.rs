use std::process::ExitCode;

fn main() -> ExitCode {
    // Parses, runs, prints an error once as `error: ...`, and maps the
    // result to an exit code (a closed pipe on stdout ends quietly with 0).
    ExitCode::from(jitsi_stack::main(std::env::args_os()))
}
