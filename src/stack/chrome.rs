//! Jibri's Chrome: the command-line flags the jibri image gives it
//! (stable-11146-2, jibri/rootfs/defaults/jibri.conf). jibri.conf is
//! rendered with them, and `check` reads them to know whether Chrome
//! accepts the site's certificate.

use crate::config::Values;

/// Chrome's flags unless `CHROMIUM_FLAGS` is set: the image's list (jibri's
/// defaults plus `--no-sandbox`: the container has no SYS_ADMIN for
/// Chrome's sandbox).
pub const DEFAULT_CHROME_FLAGS: &[&str] = &[
    "--use-fake-ui-for-media-stream",
    "--start-maximized",
    "--kiosk",
    "--enabled",
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
];

/// Added to [`DEFAULT_CHROME_FLAGS`] with `IGNORE_CERTIFICATE_ERRORS`.
pub const IGNORE_CERT_FLAG: &str = "--ignore-certificate-errors";

/// Always last after `CHROMIUM_FLAGS`, as the image does: Chrome cannot
/// start its sandbox in the container.
pub const NO_SANDBOX: &str = "--no-sandbox";

/// Whether Chrome accepts any certificate: `--ignore-certificate-errors`
/// is among its flags (from IGNORE_CERTIFICATE_ERRORS, or in CHROMIUM_FLAGS,
/// which replaces the image's list and so makes IGNORE_CERTIFICATE_ERRORS
/// do nothing).
pub fn ignores_certificate_errors(v: &Values) -> bool {
    chrome_flags(v).iter().any(|f| f == IGNORE_CERT_FLAG)
}

/// Chrome's flags, as the image writes them: `CHROMIUM_FLAGS` (trimmed,
/// empty entries dropped) followed by `--no-sandbox`; else the image's list,
/// with `--ignore-certificate-errors` when `IGNORE_CERTIFICATE_ERRORS` is on.
/// Every branch has `--no-sandbox`.
pub fn chrome_flags(v: &Values) -> Vec<String> {
    if custom_flags(v) {
        let mut flags: Vec<String> = custom(v).map(String::from).collect();
        flags.push(NO_SANDBOX.to_string());
        return flags;
    }
    let mut flags: Vec<String> = DEFAULT_CHROME_FLAGS.iter().map(|f| f.to_string()).collect();
    if v.bool("IGNORE_CERTIFICATE_ERRORS") {
        flags.push(IGNORE_CERT_FLAG.to_string());
    }
    flags
}

/// CHROMIUM_FLAGS has a flag: it replaces the image's list, and
/// IGNORE_CERTIFICATE_ERRORS no longer adds its flag.
pub fn custom_flags(v: &Values) -> bool {
    custom(v).next().is_some()
}

/// CHROMIUM_FLAGS's entries, trimmed, empty ones dropped.
fn custom(v: &Values) -> impl Iterator<Item = &str> {
    v.raw("CHROMIUM_FLAGS")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
}
