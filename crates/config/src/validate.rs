//! Checks that span more than one table: references, cycles, names.

use crate::Mode;
use crate::model::*;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use toml::Spanned;

type Fail = (Range<usize>, String);

pub(crate) fn validate(c: &Config) -> Result<(), Fail> {
    crate::tokens::validate(c)?;
    if let Some(u) = &c.ledger.url {
        let ok = ["sqlite://", "postgres://", "postgresql://", "http://", "https://"]
            .iter()
            .any(|p| u.get_ref().starts_with(p));
        if !ok {
            return Err((
                u.span(),
                "the ledger `url` must start with sqlite://, postgres:// or http(s):// (a haul server)".into(),
            ));
        }
    }
    for (kind, names) in [
        ("app", c.apps.keys().collect::<Vec<_>>()),
        ("environment", c.environments.keys().collect()),
        ("host", c.hosts.keys().collect()),
    ] {
        for n in names {
            check_name(kind, n)?;
        }
    }
    // Agents of pull environments announce their roles themselves
    // (`HAUL_ROLES`); the roles their waves name are known too.
    let pull_roles = c
        .environments
        .values()
        .filter(|e| e.mode() == crate::Mode::Pull)
        .flat_map(|e| e.waves.iter().filter_map(|w| w.get_ref().roles.as_ref()).flatten().map(String::as_str));
    let roles: BTreeSet<&str> =
        c.hosts.values().flat_map(|h| h.roles.iter().map(String::as_str)).chain(pull_roles).collect();
    let pull: Vec<_> = c.environments.values().filter(|e| e.mode() == crate::Mode::Pull).collect();
    let any_pull = !pull.is_empty();
    // A pull environment whose waves name no roles gives no list to check
    // its agents' roles against.
    let open_roles = pull.iter().any(|e| e.waves.iter().all(|w| w.get_ref().roles.is_none()));
    let known_role = |r: &Spanned<String>, what: &str| -> Result<(), Fail> {
        if open_roles || roles.contains(r.get_ref().as_str()) {
            Ok(())
        } else if any_pull {
            Err((
                r.span(),
                format!("{what} names role `{r}`, which no host has and no pull wave names", r = r.get_ref()),
            ))
        } else {
            Err((r.span(), format!("{what} names role `{r}`, which no host has", r = r.get_ref())))
        }
    };

    for (name, app) in &c.apps {
        if *app.keep.get_ref() == 0 {
            return Err((app.keep.span(), "`keep` must be at least 1".into()));
        }
        ship_paths(&app.ship)?;
        if let Some(p) = &app.path {
            relative_path(p, "`path`", false)?;
        }
        shared_paths(&app.shared)?;
        for (key, script) in app.scripts.all() {
            if !script.get_ref().is_empty() {
                relative_path(script, &format!("script `{key}`"), false)?;
                crate::scripts::not_an_option(key, script)?;
            }
        }
        for r in &app.roles {
            known_role(r, &format!("app `{}`", name.get_ref()))?;
        }
        let h = &app.hooks;
        let host_steps = [
            &app.post_upload,
            &app.service.stop,
            &app.service.start,
            &app.service.refresh,
            &app.migrate.once,
            &app.migrate.per_host,
            &h.before_stage,
            &h.after_stage,
            &h.before_migrate,
            &h.after_migrate,
            &h.before_switch,
            &h.after_switch,
            &h.before_verify,
            &h.after_verify,
        ];
        for step in host_steps.into_iter().flatten() {
            for r in &step.roles {
                known_role(r, "a step")?;
            }
        }
        for step in &app.build {
            if let Some(r) = step.roles.first() {
                return Err((r.span(), "build steps run on this machine; `roles` does not apply to them".into()));
            }
        }
        for g in &app.migrate.when_changed {
            if let Err(e) = glob::Pattern::new(g.get_ref()) {
                return Err((g.span(), format!("`{}` is not a valid glob: {e}", g.get_ref())));
            }
        }
        if let Some(r) = &app.migrate.role {
            known_role(r, "`migrate.role`")?;
        }
        for h in &app.health {
            let hc = h.get_ref();
            match (&hc.command, &hc.http) {
                (Some(_), Some(_)) => {
                    return Err((h.span(), "a health check has either `command` or `http`, not both".into()));
                }
                (None, None) => {
                    return Err((h.span(), "a health check needs `command` or `http`".into()));
                }
                (None, Some(url)) if !url.starts_with("http://") && !url.starts_with("https://") => {
                    return Err((h.span(), format!("health check URL `{url}` must start with http:// or https://")));
                }
                _ => {}
            }
        }
    }

    for (name, env) in &c.environments {
        if env.hosts.is_empty() && env.mode() == Mode::Push {
            return Err((
                name.span(),
                format!(
                    "environment `{}` has no hosts (list them in `hosts`; only a `mode = \"pull\"` environment may have none)",
                    name.get_ref()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for h in &env.hosts {
            // A pull environment lists its agents by the names they report
            // under (`HAUL_HOST`); they need no `[hosts]` entry.
            if env.mode() == Mode::Pull {
                check_name("agent", h)?;
            } else if !c.hosts.contains_key(h.get_ref().as_str()) {
                return Err((h.span(), format!("unknown host `{}` (hosts are defined in [hosts])", h.get_ref())));
            }
            if !seen.insert(h.get_ref()) {
                return Err((h.span(), format!("host `{}` is listed twice", h.get_ref())));
            }
        }
        if *env.rollout.get_ref() == Rollout::Fleet && env.mode() == Mode::Push {
            let spans = [
                ("batch", env.batch.as_ref().map(Spanned::span)),
                ("canary", env.canary.as_ref().map(Spanned::span)),
                ("pause", env.pause.as_ref().map(Spanned::span)),
            ];
            if let Some((field, Some(span))) = spans.into_iter().find(|(_, s)| s.is_some()) {
                return Err((span, format!("`{field}` applies to a rolling rollout; add `rollout = \"rolling\"`")));
            }
        }
        if let Some(r) = &env.requires
            && env.code.get_ref() == "build"
        {
            return Err((
                r.span(),
                format!(
                    "environment `{}` builds its own code, so it has no upstream to require anything of; set `code` to an environment",
                    name.get_ref()
                ),
            ));
        }
        if let Some(c) = &env.canary
            && *c.get_ref() == 0
        {
            return Err((c.span(), "`canary` must be at least 1 host".into()));
        }
        for (field, value, own) in [("code", &env.code, "build"), ("content", &env.content, "canonical")] {
            let v = value.get_ref();
            if v == own {
                continue;
            }
            if v == name.get_ref() {
                return Err((value.span(), format!("environment `{v}` cannot take its {field} from itself")));
            }
            if !c.environments.contains_key(v.as_str()) {
                return Err((
                    value.span(),
                    format!("`{field}` must be \"{own}\" or an environment's name; there is no environment `{v}`"),
                ));
            }
        }
    }
    for (field, own) in [("code", "build"), ("content", "canonical")] {
        let edges: BTreeMap<&str, &Spanned<String>> = c
            .environments
            .iter()
            .map(|(n, e)| (n.get_ref().as_str(), if field == "code" { &e.code } else { &e.content }))
            .filter(|(_, v)| v.get_ref() != own)
            .collect();
        if let Some((start, chain)) = find_cycle(&edges) {
            return Err((
                edges[start.as_str()].span(),
                format!("environments take their {field} from each other in a cycle: {}", chain.join(" → ")),
            ));
        }
    }

    for (name, w) in &c.webhooks {
        crate::webhooks::validate(c, name, w, None)?;
    }
    for (env, e) in &c.environments {
        for (name, w) in &e.webhooks {
            crate::webhooks::validate(c, name, w, Some(env.get_ref()))?;
        }
    }

    crate::pull::validate(c)?;
    crate::secrets::validate(c)?;
    crate::content::validate(c)?;
    crate::groups::validate(c)?;
    crate::ssh_fields::validate(c)?;
    for (name, host) in &c.hosts {
        match host.kind() {
            TransportKind::Local => {
                if host.root.is_none() {
                    return Err((name.span(), format!("local host `{}` needs a `root` directory", name.get_ref())));
                }
                for (field, span) in [
                    ("address", host.address.as_ref().map(Spanned::span)),
                    ("user", host.user.as_ref().map(Spanned::span)),
                    ("port", host.port.as_ref().map(Spanned::span)),
                    ("jump", host.jump.as_ref().map(Spanned::span)),
                ] {
                    if let Some(span) = span {
                        return Err((span, format!("`{field}` does not apply to a local host")));
                    }
                }
            }
            TransportKind::Ssh => {
                if let Some(p) = &host.port
                    && *p.get_ref() == 0
                {
                    return Err((p.span(), "`port` must be between 1 and 65535".into()));
                }
                if let Some(j) = &host.jump {
                    if j.get_ref().0.is_empty() {
                        return Err((j.span(), "`jump` names no host".into()));
                    }
                    for hop in &j.get_ref().0 {
                        if hop == name.get_ref() {
                            return Err((j.span(), format!("host `{hop}` cannot jump through itself")));
                        }
                        if let Some(h) = c.hosts.get(hop.as_str())
                            && h.kind() == TransportKind::Local
                        {
                            return Err((j.span(), format!("jump host `{hop}` is a local host")));
                        }
                    }
                }
            }
        }
        if let Some(root) = &host.root
            && root.get_ref().trim().is_empty()
        {
            return Err((root.span(), "`root` must not be empty".into()));
        }
        // Every host script is given `root/app` as an argument: one that
        // begins with `-` would be read as an option by `cd`, `mkdir` or
        // `rm` there.
        if let Some(root) = &host.root
            && root.get_ref().starts_with('-')
        {
            return Err((
                root.span(),
                format!("`root` `{}` must not begin with `-` (write `./{}`)", root.get_ref(), root.get_ref()),
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_name(kind: &str, n: &Spanned<String>) -> Result<(), Fail> {
    let s = n.get_ref();
    let ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err((
            n.span(),
            format!(
                "{kind} name `{s}` may only use letters, digits, `-`, `_` and `.`, and must start with a letter or digit"
            ),
        ))
    }
}

/// A path inside the release (or under a host's root): `/`-separated plain
/// names. `a//b`, `./a`, `a/..`, `/a`, control characters and names that
/// begin or end with white space are refused, never normalized, so the path
/// a host acts on is the path the file says. `trailing_slash`: a trailing
/// `/` is allowed (it marks a shared directory).
pub(crate) fn relative_path(p: &Spanned<String>, what: &str, trailing_slash: bool) -> Result<(), Fail> {
    let s = p.get_ref();
    let shown = s.escape_debug().to_string();
    let fail = |why: String| Err((p.span(), format!("{what} `{shown}` {why}")));
    let body = if trailing_slash { s.strip_suffix('/').unwrap_or(s) } else { s.as_str() };
    if s.starts_with('/') || body.split('/').any(|c| c == ".." || c == ".") || body.is_empty() {
        return fail("must be a relative path inside the release, without `.` or `..`".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return fail(format!("contains the control character {:?}; paths must be plain names", c));
    }
    if body.split('/').any(str::is_empty) {
        let parts: Vec<&str> = body.split('/').filter(|c| !c.is_empty()).collect();
        let tail = if body.len() < s.len() { "/" } else { "" };
        let why = if body.ends_with('/') { "ends with more than one `/`" } else { "has an empty component (`//`)" };
        return fail(format!("{why}; write `{}{tail}`", parts.join("/")));
    }
    if let Some(c) = body.split('/').find(|c| c.trim() != *c) {
        return fail(format!("has the name `{c}`, which begins or ends with white space"));
    }
    Ok(())
}

/// `ship`: a tree that is named, or a list of relative paths, none twice
/// nor inside another, without globs (each ships at its own path, so a
/// glob's matches would be a different release on every machine).
fn ship_paths(ship: &Spanned<Ship>) -> Result<(), Fail> {
    let paths = match ship.get_ref() {
        Ship::Tree(t) if t.trim().is_empty() => {
            return Err((ship.span(), "`ship` must name a directory, or list files and directories".into()));
        }
        Ship::Tree(_) => return Ok(()),
        Ship::Paths(ps) => ps,
    };
    if paths.is_empty() {
        return Err((ship.span(), "`ship` lists nothing; list files and directories, or name one tree".into()));
    }
    let spanned: Vec<Spanned<String>> = paths.iter().map(|p| Spanned::new(ship.span(), p.clone())).collect();
    for p in &spanned {
        relative_path(p, "ship path", true)?;
        if let Some(c) = p.get_ref().chars().find(|c| matches!(c, '*' | '?' | '[' | ']' | '{' | '}')) {
            return Err((
                ship.span(),
                format!("ship path `{}` has `{c}`: list paths without globs", p.get_ref().escape_debug()),
            ));
        }
    }
    nested("ship path", &spanned)
}

/// Shared paths are checked one by one, then against each other: listed
/// twice, or one inside another (staging would link the inner one through
/// the outer one's link, into `shared/`).
fn shared_paths(shared: &[Spanned<String>]) -> Result<(), Fail> {
    for s in shared {
        relative_path(s, "shared path", true)?;
    }
    nested("shared path", shared)
}

/// Refuses a path listed twice, or one inside another, of `paths`.
fn nested(what: &str, paths: &[Spanned<String>]) -> Result<(), Fail> {
    let parts = |s: &Spanned<String>| -> Vec<String> {
        s.get_ref().trim_end_matches('/').split('/').map(str::to_string).collect()
    };
    for (i, s) in paths.iter().enumerate() {
        for earlier in &paths[..i] {
            let (a, b) = (parts(earlier), parts(s));
            if a == b {
                return Err((s.span(), format!("{what} `{}` is listed twice", s.get_ref())));
            }
            let (outer, inner) = if a.len() < b.len() { (earlier, s) } else { (s, earlier) };
            if a.len() != b.len() && parts(inner).starts_with(&parts(outer)) {
                return Err((
                    s.span(),
                    format!(
                        "{what} `{}` is inside {what} `{}`; list only the outer one",
                        inner.get_ref(),
                        outer.get_ref()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Finds a cycle in a graph where each node has at most one outgoing edge.
fn find_cycle(edges: &BTreeMap<&str, &Spanned<String>>) -> Option<(String, Vec<String>)> {
    for &start in edges.keys() {
        let mut path = vec![start.to_string()];
        let mut at = start;
        while let Some(next) = edges.get(at) {
            let next = next.get_ref().as_str();
            if next == start {
                path.push(start.to_string());
                return Some((start.to_string(), path));
            }
            if path.iter().any(|p| p == next) {
                break; // a cycle that does not pass through `start`; found from its own start
            }
            path.push(next.to_string());
            at = next;
        }
    }
    None
}
