use super::*;

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

const BASE: &[(&str, &str)] = &[
    ("HAUL_STORE", "file:///srv/store"),
    ("HAUL_ROOT", "/srv/apps"),
    ("HAUL_APPS", "web, api"),
    ("HAUL_ENV", "prod"),
    ("HAUL_TRUST", "/etc/haul/ci.pub"),
    ("HAUL_HOST", "web-1"),
];

#[test]
fn reads_every_setting_with_defaults() {
    let c = AgentConfig::from_env(vars(BASE)).unwrap();
    assert_eq!(c.apps, ["web", "api"]);
    assert_eq!(c.host, "web-1");
    assert_eq!(c.threshold, 1);
    assert_eq!(c.interval, Duration::from_secs(30));
    assert_eq!(c.max_release, 4 << 30);
    let mut all = BASE.to_vec();
    all.extend([
        ("HAUL_ROLES", "web,canary"),
        ("HAUL_LABELS", "region=eu, rack=3"),
        ("HAUL_INTERVAL", "1m 30s"),
        ("HAUL_MAX_RELEASE", "500M"),
        ("HAUL_STORE_ALLOW_HTTP", "true"),
    ]);
    let c = AgentConfig::from_env(vars(&all)).unwrap();
    assert_eq!(c.roles, ["web", "canary"]);
    assert_eq!(c.labels.get("rack").map(String::as_str), Some("3"));
    assert_eq!(c.interval, Duration::from_secs(90));
    assert_eq!(c.max_release, 500 << 20);
    assert!(c.store_options.allow_http);
}

#[test]
fn a_missing_required_variable_is_named() {
    for name in ["HAUL_STORE", "HAUL_ROOT", "HAUL_APPS", "HAUL_ENV", "HAUL_TRUST"] {
        let without: Vec<(&str, &str)> = BASE.iter().copied().filter(|(k, _)| *k != name).collect();
        let e = AgentConfig::from_env(vars(&without)).unwrap_err();
        assert_eq!(e.source_name, name);
    }
}

#[test]
fn names_that_would_reach_other_objects_are_refused() {
    for (var, value) in [("HAUL_APPS", "web,../x"), ("HAUL_ENV", "a/b"), ("HAUL_HOST", ".hidden"), ("HAUL_ROOT", "rel")]
    {
        let mut v = BASE.to_vec();
        v.retain(|(k, _)| *k != var);
        v.push((var, value));
        let e = AgentConfig::from_env(vars(&v)).unwrap_err();
        assert_eq!(e.source_name, var, "{e}");
    }
}

#[test]
fn bad_numbers_and_durations_are_refused_naming_the_variable() {
    for (var, value) in [
        ("HAUL_INTERVAL", "soon"),
        ("HAUL_INTERVAL", "0s"),
        ("HAUL_MAX_RELEASE", "lots"),
        ("HAUL_TRUST_THRESHOLD", "2"),
        ("HAUL_TRUST_THRESHOLD", "0"),
        ("HAUL_LABELS", "region"),
        ("HAUL_STORE_ALLOW_HTTP", "maybe"),
    ] {
        let mut v = BASE.to_vec();
        v.push((var, value));
        let e = AgentConfig::from_env(vars(&v)).unwrap_err();
        assert_eq!(e.source_name, var, "{var}={value}: {e}");
    }
}

#[test]
fn the_file_is_read_and_variables_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.env");
    let mut text = String::from("# the agent of web-1\n\n");
    for (k, v) in BASE {
        text.push_str(&format!("{k}=\"{v}\"\n"));
    }
    text.push_str("export HAUL_INTERVAL=10s\n");
    std::fs::write(&path, text).unwrap();
    let c = AgentConfig::from_file_and_env(&path, vars(&[("HAUL_ENV", "staging")])).unwrap();
    assert_eq!(c.env, "staging");
    assert_eq!(c.apps, ["web", "api"]);
    assert_eq!(c.interval, Duration::from_secs(10));
}

#[test]
fn a_file_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.env");
    std::fs::write(&path, "HAUL_STORE=file:///s\nHAUL_STROE=x\n").unwrap();
    let e = AgentConfig::from_file_and_env(&path, vars(&[])).unwrap_err();
    assert!(e.source_name.ends_with("agent.env:2"), "{e}");
    std::fs::write(&path, "HAUL_STORE=file:///s\njunk\n").unwrap();
    let e = AgentConfig::from_file_and_env(&path, vars(&[])).unwrap_err();
    assert!(e.source_name.ends_with("agent.env:2"), "{e}");
    std::fs::write(&path, "HAUL_ROOT=relative\n").unwrap();
    let mut v = BASE.to_vec();
    v.retain(|(k, _)| *k != "HAUL_ROOT");
    let e = AgentConfig::from_file_and_env(&path, vars(&v)).unwrap_err();
    assert!(e.to_string().contains("agent.env:1: HAUL_ROOT"), "{e}");
}
