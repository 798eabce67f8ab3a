use std::process::ExitCode;

fn main() -> ExitCode {
    match jitsi_stack::run(std::env::args_os()) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(jitsi_stack::exit_for(&err).code())
        }
    }
}
