#!/usr/bin/env python3
"""One-off bootstrap: turn ../shared/upstream-vars.tsv into src/schema/vars.rs.

The generated table is then edited by hand (types, docs, rules); this script is
kept only to show where the first inventory came from. Do not re-run it over an
edited table."""
import csv, re, sys

SVC = {"web": "Web", "prosody": "Prosody", "jicofo": "Jicofo", "jvb": "Jvb", "jibri": "Jibri",
       "jigasi": "Jigasi", "transcriber": "Transcriber", "etherpad": "Etherpad",
       "whiteboard": "Whiteboard", "environment": "Compose"}
SECRETS_GEN = {"JICOFO_AUTH_PASSWORD", "JVB_AUTH_PASSWORD", "JIGASI_XMPP_PASSWORD",
               "JIGASI_TRANSCRIBER_PASSWORD", "JIBRI_RECORDER_PASSWORD", "JIBRI_XMPP_PASSWORD",
               "JICOFO_COMPONENT_SECRET"}

def kind(name, dflt):
    n = name
    if n in SECRETS_GEN or re.search(r"(PASSWORD|_SECRET|BINDPW|PRIVATE_KEY$|AUTH_TOKEN|_KEY_ID$|CLIENT_SECRET|CREDENTIALS)$", n):
        return "Kind::Text"
    if re.search(r"_PORT$", n):
        return "Kind::Port"
    if re.search(r"(_URL|_URL_BASE|_URI)$", n) and "PATTERN" not in n:
        return "Kind::Url"
    if n.startswith(("ENABLE_", "DISABLE_")) or re.search(r"_ENABLED$", n) or dflt.lower() in ("true", "false"):
        return "Kind::Bool"
    if re.fullmatch(r"-?\d+", dflt or ""):
        return "Kind::Int { min: 0, max: i64::MAX }"
    if re.search(r"_EMAIL$", n):
        return "Kind::Email"
    if re.search(r"_(DOMAIN|HOST|SERVER)$", n):
        return "Kind::Host"
    return "Kind::Text"

def group(n, svcs):
    for pfx, g in [("LETSENCRYPT", "Letsencrypt"), ("JWT_", "Jwt"), ("LDAP_", "Ldap"), ("MATRIX_", "Auth"),
                   ("TURN", "Turn"), ("STUN", "Turn"), ("JIBRI_", "Jibri"), ("JIGASI_TRANSCRIBER", "Transcription"),
                   ("GC_CLIENT", "Transcription"), ("GC_PRIVATE", "Transcription"), ("GC_PROJECT", "Transcription"),
                   ("JIGASI_", "Jigasi"), ("ETHERPAD", "Etherpad"), ("WHITEBOARD", "Whiteboard"),
                   ("AUTOSCALER", "Advanced"), ("VIDEOQUALITY", "Web"), ("XMPP_", "Xmpp"), ("PROSODY_", "Xmpp"),
                   ("JVB_", "Jvb"), ("JICOFO_", "Jicofo")]:
        if n.startswith(pfx):
            return g
    if n in ("PUBLIC_URL", "HTTP_PORT", "HTTPS_PORT", "CONFIG", "TZ", "RESTART_POLICY", "JITSI_IMAGE_VERSION", "JITSI_IMAGE_REPO"):
        return "Basic"
    if n in ("ENABLE_AUTH", "AUTH_TYPE", "ENABLE_GUESTS"):
        return "Auth"
    if svcs == ["web"]:
        return "Web"
    return "Advanced"

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
out = ["//! The variable table: one row per variable the pinned images (and Compose) read.",
       "//! Kept sorted by name; `schema::lookup` binary-searches it.", "",
       "use super::{Group::*, Kind, Service::*, Var};", "", "pub static VARS: &[Var] = &["]
for r in sorted(rows, key=lambda r: r["name"]):
    n = r["name"]
    svcs = [s for s in (r["read_by_images"] or r["compose_services"]).split(",") if s]
    d = r["default_in_compose"] or r["default_in_image_templates_or_scripts"]
    if "$" in d or "Env." in d or "\\" in d:
        d = ""
    d = d.strip('"')
    k = kind(n, d)
    s = ", ".join(SVC[x] for x in svcs if x in SVC)
    line = f'    Var::new("{n}", {k}, {group(n, svcs)}, &[{s}], "")'
    if d:
        line += f'.default("{d}")'
    if n in SECRETS_GEN:
        line += ".generated()"
    elif re.search(r"(PASSWORD|_SECRET|BINDPW|PRIVATE_KEY$|AUTH_TOKEN|CLIENT_SECRET|CREDENTIALS)$", n):
        line += ".secret()"
    out.append(line + ",")
out.append("];")
print("\n".join(out))
