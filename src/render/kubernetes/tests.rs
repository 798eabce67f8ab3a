use super::*;

#[test]
fn quantities_from_docker_sizes() {
    assert_eq!(quantity("16M").unwrap(), "16Mi");
    assert_eq!(quantity("2gb").unwrap(), "2Gi");
    assert_eq!(quantity("1536m").unwrap(), "1536Mi");
    assert_eq!(quantity("512k").unwrap(), "512Ki");
    assert_eq!(quantity("100").unwrap(), "100");
    assert!(quantity("2t").is_err());
    assert!(quantity("lots").is_err());
}

#[test]
fn labels_are_dns_1123() {
    assert_eq!(label("/usr/share/jitsi"), "usr-share-jitsi");
    assert_eq!(label("Jibri_Recordings"), "jibri-recordings");
    assert_eq!(label(&"x".repeat(80)).len(), 50);
    assert!(!label("-a-").starts_with('-') && !label("-a-").ends_with('-'));
}

#[test]
fn host_replaced_only_as_a_whole_name() {
    let to = "xmpp.jitsi.svc.cluster.local";
    assert_eq!(
        replace_host("http://xmpp.meet.jitsi:5280", "xmpp.meet.jitsi", to),
        format!("http://{to}:5280")
    );
    // A longer name that contains the alias is left alone.
    assert_eq!(
        replace_host("a.xmpp.meet.jitsi.org", "xmpp.meet.jitsi", to),
        "a.xmpp.meet.jitsi.org"
    );
    assert_eq!(
        replace_host("xmpp.meet.jitsi,xmpp.meet.jitsi", "xmpp.meet.jitsi", "x"),
        "x,x"
    );
}
