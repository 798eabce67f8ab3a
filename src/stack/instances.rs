//! The instances of the services that run several times on one host
//! (`JVB_INSTANCES` bridges, `JIBRI_INSTANCES` recorders): their names,
//! ports, ids and directories. The model and the renderers of their configs
//! both take them from here, so a bridge's port or id cannot differ between
//! its compose service and its `jvb.conf`.

use crate::config::{Instance, Stack};

/// One videobridge: its UDP media port (same inside and out), its colibri
/// REST port on the host's loopback, and its instance id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JvbInstance {
    pub instance: Instance,
    pub udp_port: u16,
    pub colibri_port: u16,
    pub instance_id: String,
}

/// One recorder: its instance id (also its MUC nickname) and the
/// CONFIG-relative directory holding its recordings: `storage/<service>`
/// (`storage/jibri`, `storage/jibri-2`, ...), so the first recorder keeps
/// its directory when more are added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JibriInstance {
    pub instance: Instance,
    pub instance_id: String,
    pub storage_dir: String,
}

/// Instance ids: what `.env` says, `-<n>` appended for instance n so each
/// one is distinct; unset: the service name (`jvb`, `jibri-2`). The image
/// would make a random one at every start; this one is stable, and it is
/// the same in the container's environment and in the rendered config.
fn instance_id(stack: &Stack, var: &str, inst: &Instance) -> String {
    match stack.values.raw(var) {
        Some(id) if inst.index == 1 => id.to_string(),
        Some(id) => format!("{id}-{}", inst.index),
        None => inst.name.clone(),
    }
}

/// The bridges `JVB_INSTANCES` asks for; bridge n listens on JVB_PORT+n-1.
pub fn jvb_instances(stack: &Stack) -> Vec<JvbInstance> {
    let base = stack.values.port("JVB_PORT").unwrap_or(10000);
    let colibri = stack.values.port("JVB_COLIBRI_PORT").unwrap_or(8080);
    let all = stack.instances("jvb");
    all.into_iter()
        .map(|i| JvbInstance {
            udp_port: offset_port(base, i.index),
            colibri_port: offset_port(colibri, i.index),
            instance_id: instance_id(stack, "JVB_INSTANCE_ID", &i),
            instance: i,
        })
        .collect()
}

/// The recorders `JIBRI_INSTANCES` asks for.
pub fn jibri_instances(stack: &Stack) -> Vec<JibriInstance> {
    let all = stack.instances("jibri");
    all.into_iter()
        .map(|i| JibriInstance {
            instance_id: instance_id(stack, "JIBRI_INSTANCE_ID", &i),
            storage_dir: format!("storage/{}", i.name),
            instance: i,
        })
        .collect()
}

fn offset_port(base: u16, index: u32) -> u16 {
    // `check` rejects port ranges that overflow; saturate rather than wrap.
    (u32::from(base) + index - 1).min(65535) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::tests::stack;

    #[test]
    fn bridges_get_distinct_ports_and_ids() {
        let s = stack(&[("JVB_INSTANCES", "3"), ("JVB_PORT", "10100")], &[]);
        let b = jvb_instances(&s);
        let ports: Vec<_> = b.iter().map(|b| (b.udp_port, b.colibri_port)).collect();
        assert_eq!(ports, [(10100, 8080), (10101, 8081), (10102, 8082)]);
        let ids: Vec<_> = b.iter().map(|b| b.instance_id.clone()).collect();
        assert_eq!(ids, ["jvb", "jvb-2", "jvb-3"]);
        let one = stack(&[], &[]);
        assert_eq!(jvb_instances(&one)[0].instance_id, "jvb");
        let named = stack(&[("JVB_INSTANCE_ID", "b"), ("JVB_INSTANCES", "2")], &[]);
        let ids: Vec<_> = jvb_instances(&named)
            .into_iter()
            .map(|b| b.instance_id)
            .collect();
        assert_eq!(ids, ["b", "b-2"]);
    }
}
