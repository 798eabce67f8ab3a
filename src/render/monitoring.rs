//! The config objects of the monitoring and log components (Prometheus'
//! scrape targets, Grafana's data sources, the OpenTelemetry collector) and
//! the shared empty file ([`mounts::EMPTY`]), rendered from the model.

use super::{mounts, Output, GENERATED_NOTE};
use crate::config::Component;
use crate::stack::{self, Model};
use anyhow::Result;
use serde::Serialize;

fn with_note<T: Serialize>(value: &T) -> Result<String> {
    crate::yaml::to_string_with_comment(GENERATED_NOTE, value)
}

/// Renders the empty file and the monitoring configs of `model`.
pub fn render(model: &Model, out: &mut Output) -> Result<()> {
    out.add(mounts::config_path(mounts::EMPTY), String::new());
    let has = |c: Component| model.services.iter().any(|s| s.component == Some(c));
    if has(Component::Monitoring) {
        out.add(
            mounts::config_path("prometheus/prometheus.yml"),
            with_note(&prometheus_config(model))?,
        );
        out.add(
            mounts::config_path("grafana/datasources.yml"),
            with_note(&grafana_datasources(has(Component::LogAnalyser)))?,
        );
    }
    if has(Component::LogAnalyser) {
        out.add(
            mounts::config_path("otel/config.yaml"),
            with_note(&otel_config())?,
        );
    }
    Ok(())
}

fn prometheus_config(model: &Model) -> serde_json::Value {
    let bridges: Vec<String> = model
        .of_kind(stack::Kind::Jvb)
        .map(|b| format!("{}:8080", b.name))
        .collect();
    serde_json::json!({
        "global": { "scrape_interval": "15s" },
        "scrape_configs": [
            { "job_name": "jvb", "static_configs": [ { "targets": bridges } ] },
            { "job_name": "jicofo", "static_configs": [ { "targets": ["jicofo:8888"] } ] },
        ],
    })
}

fn grafana_datasources(loki: bool) -> serde_json::Value {
    let mut sources = vec![serde_json::json!({
        "name": "Prometheus", "type": "prometheus", "access": "proxy",
        "url": "http://prometheus:9090", "isDefault": true,
    })];
    if loki {
        sources.push(serde_json::json!({
            "name": "Loki", "type": "loki", "access": "proxy", "url": "http://loki:3100",
        }));
    }
    serde_json::json!({ "apiVersion": 1, "datasources": sources })
}

fn otel_config() -> serde_json::Value {
    serde_json::json!({
        "receivers": { "filelog": {
            "include": ["/var/lib/docker/containers/*/*-json.log"],
            "operators": [ { "type": "json_parser" } ],
        } },
        "processors": { "batch": {} },
        "exporters": { "otlphttp": { "endpoint": "http://loki:3100/otlp" } },
        "service": { "pipelines": { "logs": {
            "receivers": ["filelog"], "processors": ["batch"], "exporters": ["otlphttp"],
        } } },
    })
}
