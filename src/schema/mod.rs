//! The typed schema: every variable the pinned images and Compose read, with its
//! type, default, secrecy, services, group, docs and deprecation. Validation,
//! `env.example`, the variable reference and the template context all read it.

pub mod history;
pub mod kind;
mod vars;

pub use kind::Kind;
pub use vars::VARS;

use serde::Serialize;

/// The image release every default in this table was checked against.
pub const PINNED_IMAGE_VERSION: &str = "stable-11146-2";

/// Who reads a variable: a container (or Compose itself). Not a service
/// of the deployment model (`stack::Service`, whose `stack::Kind` says what
/// it runs) nor an optional component (`config::Component`, an overlay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reader {
    /// Read by Docker Compose itself or by jitsi-stack, not by a container.
    Compose,
    Web,
    Prosody,
    Jicofo,
    Jvb,
    Jibri,
    Jigasi,
    Transcriber,
    Etherpad,
    Whiteboard,
    Turn,
}

/// Where a variable is listed in `env.example` and the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    Basic,
    Stack,
    Auth,
    Jwt,
    Ldap,
    Letsencrypt,
    Turn,
    Xmpp,
    Web,
    Branding,
    Media,
    Jicofo,
    Jvb,
    Jibri,
    Jigasi,
    Transcription,
    Visitors,
    Etherpad,
    Whiteboard,
    Analytics,
    Advanced,
}

impl Group {
    pub const ALL: &'static [Group] = &[
        Group::Basic,
        Group::Stack,
        Group::Auth,
        Group::Jwt,
        Group::Ldap,
        Group::Letsencrypt,
        Group::Turn,
        Group::Xmpp,
        Group::Web,
        Group::Branding,
        Group::Media,
        Group::Jicofo,
        Group::Jvb,
        Group::Jibri,
        Group::Jigasi,
        Group::Transcription,
        Group::Visitors,
        Group::Etherpad,
        Group::Whiteboard,
        Group::Analytics,
        Group::Advanced,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::Basic => "Basic configuration",
            Group::Stack => "jitsi-stack and Docker Compose",
            Group::Auth => "Authentication",
            Group::Jwt => "JWT authentication",
            Group::Ldap => "LDAP authentication",
            Group::Letsencrypt => "Let's Encrypt",
            Group::Turn => "STUN and TURN",
            Group::Xmpp => "XMPP (Prosody)",
            Group::Web => "Web frontend",
            Group::Branding => "Branding (jitsi-stack; files in the stack's branding/ directory)",
            Group::Media => "Audio and video",
            Group::Jicofo => "Jicofo (focus)",
            Group::Jvb => "Jitsi Videobridge",
            Group::Jibri => "Jibri (recording and streaming)",
            Group::Jigasi => "Jigasi (SIP gateway)",
            Group::Transcription => "Transcription",
            Group::Visitors => "Visitors",
            Group::Etherpad => "Etherpad",
            Group::Whiteboard => "Whiteboard",
            Group::Analytics => "Analytics, metrics and error reporting",
            Group::Advanced => "Advanced",
        }
    }
}

/// Whether a variable holds a secret, and who provides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Secret {
    No,
    /// A credential the user supplies (LDAP bind password, JWT secret, ...).
    User,
    /// An internal credential `gen-passwords` creates.
    Generated,
}

/// One variable.
#[derive(Debug, Serialize)]
pub struct Var {
    pub name: &'static str,
    pub kind: Kind,
    pub group: Group,
    pub services: &'static [Reader],
    pub doc: &'static str,
    /// The value the images (or Compose) use when the variable is unset or empty.
    pub default: Option<&'static str>,
    pub secret: Secret,
    /// The variable that replaces this one, when upstream renamed it.
    pub replaced_by: Option<&'static str>,
    /// When upstream split it in several, all of them (`replaced_by` is the first).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub split_into: &'static [&'static str],
    /// Why it is deprecated, when it is.
    pub deprecated: Option<&'static str>,
}

impl Var {
    pub const fn new(
        name: &'static str,
        kind: Kind,
        group: Group,
        services: &'static [Reader],
        doc: &'static str,
    ) -> Var {
        Var {
            name,
            kind,
            group,
            services,
            doc,
            default: None,
            secret: Secret::No,
            replaced_by: None,
            split_into: &[],
            deprecated: None,
        }
    }

    pub const fn default(mut self, value: &'static str) -> Var {
        self.default = Some(value);
        self
    }

    pub const fn secret(mut self) -> Var {
        self.secret = Secret::User;
        self
    }

    pub const fn generated(mut self) -> Var {
        self.secret = Secret::Generated;
        self
    }

    pub const fn replaced_by(mut self, name: &'static str, why: &'static str) -> Var {
        self.replaced_by = Some(name);
        self.deprecated = Some(why);
        self
    }

    /// Replaced by several variables, each taking the old value.
    pub const fn split_into(mut self, names: &'static [&'static str], why: &'static str) -> Var {
        self.replaced_by = Some(names[0]);
        self.split_into = names;
        self.deprecated = Some(why);
        self
    }

    /// Every variable that replaces this one, in order.
    pub fn replacements(&self) -> impl Iterator<Item = &'static str> {
        let split = self.split_into;
        let single = self.replaced_by.filter(|_| split.is_empty());
        split.iter().copied().chain(single)
    }

    pub const fn deprecated(mut self, why: &'static str) -> Var {
        self.deprecated = Some(why);
        self
    }

    pub fn is_secret(&self) -> bool {
        self.secret != Secret::No
    }
}

/// The schema entry for `name`, if the images read such a variable.
pub fn lookup(name: &str) -> Option<&'static Var> {
    VARS.binary_search_by(|v| v.name.cmp(name))
        .ok()
        .map(|i| &VARS[i])
}

/// The secrets `gen-passwords` fills, in table order.
pub fn generated_secrets() -> impl Iterator<Item = &'static Var> {
    VARS.iter().filter(|v| v.secret == Secret::Generated)
}

/// The closest known variable name, for "did you mean" hints.
pub fn suggest(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    VARS.iter()
        .filter_map(|v| {
            let limit = (v.name.len() / 4).clamp(1, 4);
            // The length difference bounds the distance from below: most
            // names are ruled out without computing it.
            if upper.len().abs_diff(v.name.len()) > limit || bag_distance(&upper, v.name) > limit {
                return None;
            }
            let d = edit_distance(&upper, v.name);
            (d <= limit).then_some((d, v.name))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// A cheap lower bound of the edit distance: how many characters one name
/// has that the other lacks (counted by byte value).
fn bag_distance(a: &str, b: &str) -> usize {
    let mut counts = [0i32; 128];
    for c in a.bytes() {
        counts[usize::from(c & 0x7f)] += 1;
    }
    for c in b.bytes() {
        counts[usize::from(c & 0x7f)] -= 1;
    }
    let (mut extra, mut missing) = (0usize, 0usize);
    for n in counts {
        if n > 0 {
            extra += n as usize;
        } else {
            missing += (-n) as usize;
        }
    }
    extra.max(missing)
}

/// The candidate closest to `word` ignoring case, for "did you mean" hints
/// (component names, time zones); `None` when none is close.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    let limit = (w.chars().count() / 4).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|c| c.len().abs_diff(w.len()) <= limit)
        .map(|c| (edit_distance(&w, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in VARS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} must sort before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn every_default_passes_its_own_type() {
        let bad: Vec<String> = VARS
            .iter()
            .filter_map(|var| {
                let d = var.default?;
                let expected = var.kind.check(d).err()?;
                Some(format!("{}: default {d:?} is not {expected}", var.name))
            })
            .collect();
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    #[test]
    fn replacements_exist() {
        for var in VARS {
            for new in var.replacements() {
                let new_var =
                    lookup(new).unwrap_or_else(|| panic!("{} -> {new} unknown", var.name));
                assert!(
                    new_var.deprecated.is_none(),
                    "{} -> {new}, itself retired",
                    var.name
                );
            }
        }
    }

    #[test]
    fn deprecated_names_are_not_generated_and_documented() {
        for var in VARS {
            assert!(!var.doc.is_empty(), "{} has no doc", var.name);
            if var.deprecated.is_some() {
                assert_ne!(var.secret, Secret::Generated, "{}", var.name);
            }
        }
        assert_eq!(
            lookup("DOCKER_HOST_ADDRESS").unwrap().replaced_by,
            Some("JVB_ADVERTISE_IPS")
        );
        assert!(lookup("JICOFO_COMPONENT_SECRET")
            .unwrap()
            .deprecated
            .is_some());
    }

    #[test]
    fn lookup_finds_first_middle_last() {
        assert_eq!(lookup(VARS[0].name).unwrap().name, VARS[0].name);
        let last = VARS[VARS.len() - 1].name;
        assert_eq!(lookup(last).unwrap().name, last);
        assert!(lookup("NOT_A_JITSI_VARIABLE").is_none());
    }

    #[test]
    fn suggestion_for_a_typo() {
        assert_eq!(suggest("PUBLC_URL"), Some("PUBLIC_URL"));
        assert_eq!(suggest("ENABLE_LETSENCYPT"), Some("ENABLE_LETSENCRYPT"));
        assert_eq!(suggest("COMPLETELY_DIFFERENT_THING"), None);
    }

    #[test]
    fn generated_secrets_include_the_xmpp_accounts() {
        let names: Vec<_> = generated_secrets().map(|v| v.name).collect();
        for n in [
            "JICOFO_AUTH_PASSWORD",
            "JVB_AUTH_PASSWORD",
            "JIGASI_XMPP_PASSWORD",
            "JIGASI_TRANSCRIBER_PASSWORD",
            "JIBRI_RECORDER_PASSWORD",
            "JIBRI_XMPP_PASSWORD",
            "TURN_CREDENTIALS",
        ] {
            assert!(names.contains(&n), "{n} missing");
        }
    }
}

/// How bad a finding is (every check's and rule's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}
