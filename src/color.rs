//! Colour on a terminal: `--color auto|always|never` (auto: only when the
//! stream is a terminal and NO_COLOR is unset or empty, as no-color.org asks).

use anstyle::{AnsiColor, Style};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

static CHOICE: AtomicU8 = AtomicU8::new(0);

/// `--color`: when to colour the output (its variants are the flag's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set.
    Auto,
    /// Always colour (even through a pipe).
    Always,
    /// Never colour.
    Never,
}

/// Records the choice for the whole run (called once, after parsing).
pub fn init(choice: ColorChoice) {
    let n = match choice {
        ColorChoice::Auto => 0,
        ColorChoice::Always => 1,
        ColorChoice::Never => 2,
    };
    CHOICE.store(n, Ordering::Relaxed);
}

/// The choice in effect.
pub fn choice() -> ColorChoice {
    match CHOICE.load(Ordering::Relaxed) {
        1 => ColorChoice::Always,
        2 => ColorChoice::Never,
        _ => ColorChoice::Auto,
    }
}

/// NO_COLOR is set to something (an empty value does not count).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn enabled(is_terminal: bool) -> bool {
    match choice() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal && !no_color_env() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

/// Paints text for one output stream.
#[derive(Clone, Copy, Debug)]
pub struct Painter {
    on: bool,
}

/// For text printed on standard output.
pub fn stdout() -> Painter {
    Painter {
        on: enabled(std::io::stdout().is_terminal()),
    }
}

/// For text printed on standard error.
pub fn stderr() -> Painter {
    Painter {
        on: enabled(std::io::stderr().is_terminal()),
    }
}

impl Painter {
    /// One that never colours.
    pub fn plain() -> Painter {
        Painter { on: false }
    }

    pub fn is_on(self) -> bool {
        self.on
    }

    pub fn paint(self, style: Style, text: &str) -> String {
        if self.on {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    pub fn ok(self, text: &str) -> String {
        self.paint(AnsiColor::Green.on_default(), text)
    }

    pub fn warn(self, text: &str) -> String {
        self.paint(AnsiColor::Yellow.on_default(), text)
    }

    pub fn fail(self, text: &str) -> String {
        self.paint(AnsiColor::Red.on_default().bold(), text)
    }

    pub fn hint(self, text: &str) -> String {
        self.paint(AnsiColor::Cyan.on_default(), text)
    }

    pub fn bold(self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }
}

/// Shorthands for standard error, where progress and errors go.
pub fn ok(text: &str) -> String {
    stderr().ok(text)
}

pub fn fail(text: &str) -> String {
    stderr().fail(text)
}

pub fn hint(text: &str) -> String {
    stderr().hint(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painting_only_when_on() {
        let on = Painter { on: true };
        let off = Painter { on: false };
        assert_eq!(off.fail("FAIL"), "FAIL");
        let red = on.fail("FAIL");
        assert!(
            red.starts_with("\x1b[") && red.contains("FAIL") && red.ends_with("\x1b[0m"),
            "{red:?}"
        );
    }
}
