//! The dashboard end to end: real deploys through the CLI, `haul server`,
//! and headless Chromium driven through chromedriver by a minimal W3C
//! WebDriver client (plain JSON over HTTP), checking what a person sees.
//!
//! Set `HAUL_DASHBOARD_SCREENSHOT=<path>` to save a PNG of the matrix
//! (docs/dashboard.png is made that way).

mod common;

use common::browser::{Browser, http, http_raw};
use common::{Project, Server};
use serde_json::{Value, json};

const TOKEN: &str = "reader-secret";

/// The dashboard's pipeline, with a `read` token and a `verify` one.
fn pipeline() -> String {
    common::staged_pipeline(&format!(
        "{}{}",
        common::token("dashboard", TOKEN, &["read"]),
        common::token("ci", "ci-secret", &["verify"])
    ))
}

fn deploy(p: &Project, env: &str, extra: &[&str]) -> String {
    let mut args = vec!["deploy", "app", env, "--json"];
    args.extend_from_slice(extra);
    p.haul(&args).ok().report()["release"].as_str().unwrap().to_string()
}

#[test]
fn the_dashboard_shows_what_runs_where_in_a_browser() {
    let p = Project::new(&pipeline());
    let v1 = deploy(&p, "staging", &[]);
    p.haul(&["verify", "app", "staging", "--name", "smoke", "--result", "pass"]).ok();
    p.haul(&["approve", "app", &v1, "--for", "prod"]).ok();
    p.haul_env(&["promote", "app", "--to", "prod", "--reason", "release train"], &[("HAUL_ACTOR", "alice")]).ok();
    p.write("src/index.html", "<h1>v2</h1>\n");
    let v2 = deploy(&p, "staging", &[]);
    p.haul(&["verify", "app", "staging", "--name", "smoke", "--result", "pass", "--link", "https://ci.example/7"]).ok();
    assert_ne!(v1, v2);

    let server = Server::start(&p);
    let port = server.port;
    let base = format!("http://127.0.0.1:{port}");
    let b = Browser::start();

    // Not signed in: the matrix sends us to the login form.
    b.go(&format!("{base}/"));
    assert_eq!(b.url(), format!("{base}/login"));
    b.type_into("#token", "wrong");
    b.click("#sign-in");
    b.wait_url(|_| b.count("p.error") == 1);
    assert!(b.text("p.error").contains("unknown token"));
    b.type_into("#token", TOKEN);
    b.click("#sign-in");
    b.arrive(&format!("{base}/"));
    assert_eq!(b.text("#viewer"), "dashboard");

    // The matrix: staging runs v2 (verified), prod runs v1 (promoted by
    // alice, nothing verified there yet); no host drifts.
    let staging = b.text(r#"td.cell[data-app="app"][data-env="staging"]"#);
    assert!(staging.contains(&v2), "{staging}");
    assert!(staging.contains("deploy by tester"), "{staging}");
    assert!(staging.contains("verified smoke"), "{staging}");
    assert!(staging.contains("drift 0"), "{staging}");
    let prod = b.text(r#"td.cell[data-app="app"][data-env="prod"]"#);
    assert!(prod.contains(&v1), "{prod}");
    assert!(prod.contains("promote by alice"), "{prod}");
    assert!(prod.contains("not verified"), "{prod}");
    assert!(prod.contains("drift 0"), "{prod}");
    assert!(prod.contains("promotion from staging"), "{prod}");

    // The deployment page: each host's row, the phases it went through.
    b.click(r#"td.cell[data-env="staging"] a.release-id"#);
    b.wait_url(|u| u.starts_with(&format!("{base}/deployments/")));
    assert_eq!(b.text("#release"), v2);
    assert_eq!(b.count("#hosts tbody tr"), 2);
    for h in ["a", "b"] {
        let row = b.text(&format!(r#"tr[data-host="{h}"]"#));
        assert!(row.starts_with(h) && row.contains("ok"), "{row}");
    }
    let verifications = b.text("main");
    assert!(verifications.contains("smoke") && verifications.contains("https://ci.example/7"), "{verifications}");

    // The host page: what runs there, what touched it.
    b.click(r#"tr[data-host="b"] a"#);
    b.arrive(&format!("{base}/hosts/b"));
    let landed = b.text("#landed");
    assert!(landed.contains(&v2) && landed.contains("staging"), "{landed}");
    assert_eq!(b.count("#history tbody tr"), 2);

    // The promotion page: v2 lacks the approval; v1 qualified.
    b.go(&format!("{base}/"));
    b.click(r#"td.cell[data-env="prod"] a.promotion"#);
    b.arrive(&format!("{base}/promotions/app/prod"));
    let c2 = b.text(&format!(r#"section.candidate[data-release="{v2}"]"#));
    assert!(c2.contains("blocked") && c2.contains("0 of 1 approvals for prod"), "{c2}");
    let rows = format!(r#"section.candidate[data-release="{v2}"] tr"#);
    assert_eq!((b.count(&format!("{rows}.met")), b.count(&format!("{rows}.unmet"))), (1, 1));
    assert!(b.text(&format!("{rows}.unmet")).contains("approvals"));
    assert!(b.text(&format!("{rows}.met")).contains("smoke"));
    let c1 = b.text(&format!(r#"section.candidate[data-release="{v1}"]"#));
    assert!(c1.contains("qualifies") && c1.contains("(by tester)"), "{c1}");

    // Unknown things are a 404 page, not an error.
    b.go(&format!("{base}/deployments/99999"));
    assert!(b.text("main").contains("There is no deployment 99999"));
    b.go(&format!("{base}/hosts/nowhere"));
    assert!(b.text("main").contains("There is no host"));

    // One host drifts: v3 goes to a only.
    p.write("src/index.html", "<h1>v3</h1>\n");
    let v3 = deploy(&p, "staging", &["--hosts", "a"]);
    b.go(&format!("{base}/"));
    let staging = b.text(r#"td.cell[data-app="app"][data-env="staging"]"#);
    assert!(staging.contains(&v3), "{staging}");
    assert!(staging.contains("not verified"), "{staging}");
    assert!(staging.contains(&format!("drift 1 b runs {v2}")), "{staging}");
    if let Some(path) = std::env::var_os("HAUL_DASHBOARD_SCREENSHOT") {
        std::fs::write(&path, b.screenshot()).unwrap();
    }

    // Signing out ends the session.
    b.click("form.logout button");
    b.arrive(&format!("{base}/login"));
    b.go(&format!("{base}/hosts/a"));
    assert_eq!(b.url(), format!("{base}/login?next=%2Fhosts%2Fa"));
}

#[test]
fn pages_need_a_read_token_and_the_cookie_is_locked_down() {
    let p = Project::new(&pipeline());
    let v1 = deploy(&p, "staging", &[]);
    let server = Server::start(&p);
    let port = server.port;

    let (st, head, _) = http(port, "GET", "/deployments/1", &[], None);
    assert_eq!(st, 303);
    assert!(head.contains("location: /login?next=%2fdeployments%2f1"), "{head}");
    let (st, _, body) = http(port, "GET", "/login", &[], None);
    assert_eq!(st, 200);
    assert!(body.contains(r#"name="token""#));

    // Without the form's CSRF token (and its nonce cookie), sign-in is refused.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (st, head, _) = http(port, "POST", "/login", &form, Some("token=reader-secret&next=%2F&csrf=x"));
    assert_eq!(st, 403);
    assert!(!head.contains("haul_session="), "{head}");
    let (nonce, csrf) = login_form(port);
    let with_nonce = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", nonce.as_str())];
    let (_, other_csrf) = login_form(port);
    let other = format!("token=reader-secret&csrf={other_csrf}");
    assert_eq!(http(port, "POST", "/login", &with_nonce, Some(&other)).0, 403, "another form's token");

    // A token without the read scope, or an unknown one, is refused.
    let (st, head, body) =
        http(port, "POST", "/login", &with_nonce, Some(&format!("token=ci-secret&next=%2F&csrf={csrf}")));
    assert_eq!(st, 401);
    assert!(!head.contains("haul_session="));
    assert!(body.contains("lacks the `read` scope"), "{body}");
    assert_eq!(http(port, "POST", "/login", &with_nonce, Some(&format!("token=nope&csrf={csrf}"))).0, 401);
    assert_eq!(http(port, "POST", "/login", &with_nonce, Some("garbage")).0, 400);

    // A good token: a signed session (never the token) in an HttpOnly,
    // SameSite=Strict cookie with an expiry, Secure behind https, and a
    // redirect that stays on this server.
    let good = |next: &str| format!("token=reader-secret&next={next}&csrf={csrf}");
    let (st, head, _) = http_raw(port, "POST", "/login", &with_nonce, Some(&good("%2F%2Fevil.example")));
    assert_eq!(st, 303);
    assert!(head.to_ascii_lowercase().contains("location: /\r\n"), "{head}");
    let cookie = head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .find(|c| c.starts_with("haul_session="))
        .unwrap()
        .to_string();
    let lower = cookie.to_ascii_lowercase();
    assert!(lower.contains("; httponly; samesite=strict; max-age=43200"), "{cookie}");
    assert!(!lower.contains("secure") && !cookie.contains("reader-secret"), "{cookie}");
    assert!(!cookie.contains(&hex(TOKEN)) && !cookie.contains(&common::sha256(TOKEN)), "{cookie}");
    let https = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Forwarded-Proto", "https"),
        ("Cookie", nonce.as_str()),
    ];
    let (_, head, _) = http(port, "POST", "/login", &https, Some(&good("%2Fhosts%2Fa")));
    assert!(head.contains("location: /hosts/a\r\n"), "{head}");
    assert!(head.contains("; secure"), "{head}");

    let session = cookie.split(';').next().unwrap().to_string();
    let with_cookie = [("Cookie", session.as_str())];
    let (st, head, body) = http(port, "GET", "/", &with_cookie, None);
    assert_eq!(st, 200);
    assert!(head.contains("content-security-policy"), "{head}");
    assert!(body.contains(&v1));
    let (st, _, css) = http(port, "GET", "/dashboard.css", &[], None);
    assert_eq!(st, 200);
    assert!(css.contains(".badge"));

    // A bearer token works as well; bad input is a 404 page, never a 500.
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    for path in ["/deployments/1", "/hosts/a", "/promotions/app/prod"] {
        assert_eq!(http(port, "GET", path, &auth, None).0, 200, "{path}");
    }
    for path in [
        "/deployments/x",
        "/deployments/99999999999999999999",
        "/deployments/42",
        "/hosts/%3Cscript%3E",
        "/promotions/app/staging",
        "/promotions/nope/prod",
        "/promotions/app/nope",
    ] {
        let (st, _, body) = http(port, "GET", path, &auth, None);
        assert_eq!(st, 404, "{path}: {body}");
        assert!(!body.contains("<script>"), "escaped: {body}");
    }

    // A forged or altered session is no session.
    let (name, rest) = session.split_once('.').unwrap();
    for forged in [format!("{name}.{}", rest.replacen('.', ".9", 1)), format!("{session}x"), "haul_session=".into()] {
        let c = [("Cookie", forged.as_str())];
        assert_eq!(http(port, "GET", "/", &c, None).0, 303, "{forged}");
    }

    // Signing out: GET does nothing; POST needs the page's CSRF token.
    assert_eq!(http(port, "GET", "/logout", &with_cookie, None).0, 405);
    assert_eq!(http(port, "GET", "/", &with_cookie, None).0, 200, "still signed in");
    let post = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", session.as_str())];
    let (st, _, _) = http(port, "POST", "/logout", &post, Some("csrf=forged"));
    assert_eq!(st, 403);
    let page = http_raw(port, "GET", "/", &with_cookie, None).2;
    let logout_csrf = hidden(&page, "csrf");
    let (st, head, _) = http(port, "POST", "/logout", &post, Some(&format!("csrf={logout_csrf}")));
    assert_eq!(st, 303);
    assert!(head.contains("set-cookie: haul_session=; path=/; httponly; samesite=strict; max-age=0"), "{head}");
}

#[test]
fn login_next_is_only_ever_a_path_on_this_server() {
    let p = Project::new(&pipeline());
    let server = Server::start(&p);
    let port = server.port;
    let (nonce, csrf) = login_form(port);
    let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", nonce.as_str())];
    // Each as the form sends it (percent-encoded once).
    let off_site = [
        "%2F%09%2Fevil.example",
        "%2F%0A%2Fevil.example",
        "%2F%0D%0A%2Fevil.example",
        "%2F%20%2Fevil.example",
        "%2F%2Fevil.example",
        "%2F%5Cevil.example",
        "%5C%5Cevil.example",
        "%2F%5C%2Fevil.example",
        "%2F%252F%2Fevil.example",
        "%2F%2509%2Fevil.example",
        "%2F%255Cevil.example",
        "https%3A%2F%2Fevil.example%2F",
        "http%3Aevil.example",
        "evil.example",
        "javascript%3Aalert(1)",
    ];
    for next in off_site {
        let body = format!("token={TOKEN}&next={next}&csrf={csrf}");
        let (st, head, _) = http(port, "POST", "/login", &form, Some(&body));
        assert_eq!(st, 303, "{next}");
        assert!(head.contains("location: /\r\n"), "{next}: {head}");
        // The form shown again after a failure carries the safe value too.
        // (a control character in the query is refused before any page).
        let (st, _, page) = http(port, "GET", &format!("/login?next={next}"), &[], None);
        if st != 422 {
            assert_eq!((st, hidden(&page, "next").as_str()), (200, "/"), "{next}");
        }
    }
    let body = format!("token={TOKEN}&next=%2Fpromotions%2Fapp%2Fprod&csrf={csrf}");
    let (_, head, _) = http(port, "POST", "/login", &form, Some(&body));
    assert!(head.contains("location: /promotions/app/prod\r\n"), "{head}");
}

/// The login form's nonce cookie (`name=value`) and its CSRF token.
fn login_form(port: u16) -> (String, String) {
    let (st, head, body) = http_raw(port, "GET", "/login", &[], None);
    assert_eq!(st, 200);
    let nonce = head
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, v)| v))
        .find(|v| v.starts_with("haul_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    (nonce, hidden(&body, "csrf"))
}

/// The value of the hidden form field `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let at = page.find(&format!(r#"name="{name}" value=""#)).unwrap_or_else(|| panic!("no {name} in {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// An agent's report, posted as the agent would.
fn report(port: u16, host: &str, at: &str, fields: Value) {
    let mut r = json!({"host": host, "app": "app", "env": "fleet", "phase": "live", "at": at, "agent": "0.1.0"});
    r.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    let (status, _, body) =
        http(port, "POST", "/api/v1/agents/reports", &[("Authorization", "Bearer agent-secret")], Some(&r.to_string()));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_agents_of_a_pull_environment_show_with_the_silent_ones_marked_and_their_words_as_text() {
    let tokens = format!(
        "{}{}",
        common::token("dashboard", TOKEN, &["read"]),
        common::token("agent", "agent-secret", &["agent"])
    );
    let p = Project::pull(&[], "silent_after = \"1m\"", &tokens);
    let server = Server::start(&p);
    let (port, base) = (server.port, format!("http://127.0.0.1:{}", server.port));
    let now = jiff::Timestamp::now().to_string();
    let (live, blessed) = ("20261201T000000.000Z-aaaaaaaaaaaa", "20261202T000000.000Z-bbbbbbbbbbbb");
    report(port, "web1", &now, json!({"roles": ["<b>app</b>"], "release": blessed, "live": live, "blessing": 2}));
    // Silent for a day, and what it said is hostile markup.
    let hostile = "<script>document.title='owned'</script><img src=x onerror=alert(1)>";
    report(port, "web2", "2026-01-01T00:00:00Z", json!({"phase": "failed", "error": hostile, "release": blessed}));

    let b = Browser::start();
    b.go(&format!("{base}/"));
    b.type_into("#token", TOKEN);
    b.click("#sign-in");
    b.arrive(&format!("{base}/"));
    let cell = b.text(r#"td.cell[data-app="app"][data-env="fleet"]"#);
    assert!(cell.contains("2 agents, 1 silent"), "{cell}");
    b.click(r#"td.cell[data-env="fleet"] a.agents"#);
    b.wait_url(|u| u == format!("{base}/agents/app/fleet"));
    assert_eq!(b.text("#agent-counts"), "2 agents, 1 silent");
    assert_eq!(b.count("#agents tbody tr"), 2);
    assert_eq!(b.count("#agents tbody tr.silent"), 1);
    let silent = b.text("#agents tbody tr.silent");
    assert!(silent.contains("web2") && silent.contains("SILENT"), "{silent}");
    // The agent's words are text on the page, never markup.
    assert!(silent.contains(hostile), "{silent}");
    assert_eq!(b.count("#agents script, #agents img, #agents b"), 0);
    assert!(!b.cmd("GET", "/title", None).as_str().unwrap().contains("owned"));
    let fresh = b.text("#agents tbody tr:not(.silent)");
    assert!(fresh.contains("<b>app</b>") && fresh.contains(&format!("{live} (drift)")), "{fresh}");
    assert!(!fresh.contains("SILENT"), "{fresh}");
    // An environment or app the config lacks has no agents page.
    for path in ["/agents/app/nowhere", "/agents/nothing/fleet"] {
        b.go(&format!("{base}{path}"));
        let page = b.text("body");
        assert!(page.contains("There is no pull environment"), "{path}: {page}");
    }
    drop(b);
    server.stop();
}
