//! The dashboard as a place to act, in headless Chromium: pages that
//! follow the ledger live (no reload), and a signed-in person who
//! approves, quarantines, records a verification, promotes and rolls
//! back (push: the server runs the CLI) from the page, each
//! with a reason, CSRF-checked, recorded under their token's name; a
//! person who may only read sees no forms; pages left behind hold no
//! event stream (regression: the browser queued every later page).

mod common;

use common::browser::{Browser, http_raw};
use common::{Project, Server};

/// The dashboard's pipeline; alice may act, bob only reads.
fn project() -> Project {
    Project::new(&common::staged_pipeline(&format!(
        "{}{}",
        common::token("alice", "alice-secret", &["read", "approve", "verify", "admin"]),
        common::token("bob", "bob-secret", &["read"])
    )))
}

fn deploy(p: &Project, env: &str) -> String {
    p.haul(&["deploy", "app", env, "--json"]).ok().report()["release"].as_str().unwrap().to_string()
}

fn sign_in(b: &Browser, base: &str, secret: &str) {
    b.go(&format!("{base}/login"));
    b.type_into("#token", secret);
    b.click("#sign-in");
    b.arrive(&format!("{base}/"));
}

#[test]
fn a_person_acts_from_the_pages_and_the_pages_follow_the_ledger_live() {
    let p = project();
    let v1 = deploy(&p, "staging");
    let server = Server::start(&p);
    let base = format!("http://127.0.0.1:{}", server.port);
    let b = Browser::start();
    sign_in(&b, &base, "alice-secret");

    // Live: the matrix shows a deploy made elsewhere without a reload (a
    // mark set in the page survives).
    b.script("window.__kept = 42;");
    p.write("src/index.html", "v2");
    let v2 = deploy(&p, "staging");
    let cell = r#"td.cell[data-app="app"][data-env="staging"]"#;
    b.wait_for("the new release", |b| b.text(cell).contains(&v2));
    assert_eq!(b.script("return window.__kept;"), 42, "the page was updated in place, not reloaded");

    // A verification recorded by hand on the deployment of v2, with why.
    b.go(&format!("{base}/deployments/2"));
    b.type_into("form.verify input[name=name]", "smoke");
    b.type_into("form.verify input[name=reason]", "clicked through checkout by hand");
    b.click("form.verify button");
    b.wait_for("the verification recorded", |b| b.count("#done") == 1);
    assert!(b.text("#done").contains("pass recorded on deployment #2 by alice"), "{}", b.text("main"));
    b.go(&format!("{base}/deployments/2"));
    let page = b.text("main");
    assert!(page.contains("smoke") && page.contains("clicked through checkout by hand"), "{page}");

    b.go(&format!("{base}/promotions/app/prod"));
    assert_eq!(b.count("form.promote"), 0, "nothing qualifies yet");
    // An approval without a reason is refused by the browser (required);
    // with one, it is recorded under alice's name.
    let approve = format!(r#"section.candidate[data-release="{v2}"] form.approve"#);
    b.type_into(&format!("{approve} input[name=reason]"), "reviewed the diff");
    b.click(&format!("{approve} button"));
    b.wait_for("the approval", |b| b.count("#done") == 1);
    assert!(b.text("#done").contains("approved for prod by alice"), "{}", b.text("main"));
    b.go(&format!("{base}/promotions/app/prod"));
    let c2 = b.text(&format!(r#"section.candidate[data-release="{v2}"]"#));
    assert!(c2.contains("qualifies") && c2.contains("(by alice)"), "{c2}");
    let out = p.haul(&["promote", "app", "--to", "prod", "--dry-run"]).ok();
    assert_eq!(out.stdout.trim(), v2, "the CLI judges by what the page recorded");

    // prod is a push environment: the server runs the promotion as the CLI
    // would, under alice's name; prod is protected, so its name is typed.
    let promote = "form.promote";
    b.type_into(&format!("{promote} input[name=reason]"), "release train");
    // The browser asks for the name itself; the server does not rely on it.
    b.script("document.querySelector('form.promote input[name=confirm]').removeAttribute('required');");
    b.click(&format!("{promote} button"));
    b.wait_for("the refusal", |b| b.count("#refusal") == 1);
    assert!(b.text("#refusal").contains("prod is protected: type its name"), "{}", b.text("main"));
    assert!(p.live("c").is_none(), "nothing was started");
    b.go(&format!("{base}/promotions/app/prod"));
    b.type_into(&format!("{promote} input[name=reason]"), "release train");
    b.type_into(&format!("{promote} input[name=confirm]"), "prod");
    b.click(&format!("{promote} button"));
    b.wait_for("the promotion started", |b| b.count("#done") == 1);
    assert!(b.text("#done").contains("started by alice"), "{}", b.text("main"));
    common::wait_until("prod runs v2", || p.live("c").as_deref() == Some(v2.as_str()));
    let h = p.haul(&["history", "app", "prod", "--json"]).ok().json();
    common::wait_until("the promotion finished", || {
        p.haul(&["history", "app", "prod", "--json"]).ok().json()[0]["status"] == "succeeded"
    });
    assert_eq!((h[0]["trigger"].as_str(), h[0]["actor"].as_str()), (Some("promote"), Some("alice")), "{h}");
    assert_eq!(h[0]["reason"], "release train");

    // prod has run nothing else: the CLI's refusal is the page's, without
    // where the server keeps its files.
    b.go(&format!("{base}/deployments/3"));
    b.type_into("form.rollback input[name=reason]", "try");
    b.type_into("form.rollback input[name=confirm]", "prod");
    b.click("form.rollback button");
    b.wait_for("the refusal", |b| b.count("#refusal") == 1);
    let said = b.text("#refusal");
    assert!(!said.is_empty() && !said.contains(&p.path().display().to_string()), "{said}");
    assert_eq!(p.live("c").as_deref(), Some(v2.as_str()), "prod is as it was");

    // And staging rolled back from its live deployment's page: v2 to v1.
    b.go(&format!("{base}/deployments/2"));
    // A reason that looks like a flag is still only a reason.
    b.type_into("form.rollback input[name=reason]", "--force v2 is slow");
    b.type_into("form.rollback input[name=confirm]", "staging");
    b.click("form.rollback button");
    b.wait_for("the rollback started", |b| b.count("#done") == 1);
    common::wait_until("staging runs v1", || {
        p.live("a").as_deref() == Some(v1.as_str()) && p.live("b").as_deref() == Some(v1.as_str())
    });
    common::wait_until("the rollback finished", || {
        let h = p.haul(&["history", "app", "staging", "--json"]).ok().json();
        h[0]["status"] == "succeeded" && h[0]["trigger"] == "rollback" && h[0]["actor"] == "alice"
    });
    let h = p.haul(&["history", "app", "staging", "--json"]).ok().json();
    assert_eq!((h[0]["reason"].as_str(), h[0]["forced"].is_null()), (Some("--force v2 is slow"), true), "{h}");

    // A quarantine, with its reason, blocks v1 everywhere.
    b.go(&format!("{base}/promotions/app/prod"));
    let quarantine = format!(r#"section.candidate[data-release="{v1}"] form.quarantine"#);
    b.type_into(&format!("{quarantine} input[name=reason]"), "leaks memory");
    b.click(&format!("{quarantine} button"));
    b.wait_for("the quarantine", |b| b.count("#done") == 1);
    let out = p.haul(&["deploy", "app", "staging", "--release", &v1]).fails(1);
    assert!(out.stderr.contains("quarantined by alice") && out.stderr.contains("leaks memory"), "{}", out.stderr);

    // A form posted with alice's session but not her page's CSRF token is
    // refused, and nothing is recorded.
    let cookie = b.cmd("GET", "/cookie/haul_session", None)["value"].as_str().unwrap().to_string();
    let cookie = format!("haul_session={cookie}");
    let form = format!("app=app&env=prod&release={v1}&reason=forged&csrf=nope&next=%2F");
    let headers = [("Cookie", cookie.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
    let (status, _, body) = http_raw(server.port, "POST", "/actions/approve", &headers, Some(&form));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF token does not belong to this session"), "{body}");
    let approvals = p.haul(&["history", "--json"]).ok();
    assert!(!approvals.stdout.contains("forged"));

    // bob may read only: no forms, and a post is refused naming the scope.
    b.click("form.logout button");
    b.arrive(&format!("{base}/login"));
    sign_in(&b, &base, "bob-secret");
    b.go(&format!("{base}/promotions/app/prod"));
    assert_eq!(b.count("form.action"), 0, "{}", b.text("main"));
    b.go(&format!("{base}/deployments/2"));
    assert_eq!(b.count("form.action"), 0);
    // Pages left behind hold no stream: many pages in a row load at once.
    for _ in 0..8 {
        for page in ["/", "/deployments/1", "/promotions/app/prod", "/pipeline/app"] {
            b.go(&format!("{base}{page}"));
        }
    }
    server.stop();
}

/// A page whose stream cannot be reopened says so: while the server is
/// gone it keeps asking and picks up again, still in place, when the
/// server is back; once the session no longer holds (here: a new session
/// key) it is sent to sign in. (It once went on showing a page that had
/// silently stopped following the ledger, and then missed what was
/// recorded while its stream was down.)
#[test]
fn a_page_whose_stream_ends_listens_again_or_is_sent_to_sign_in() {
    let p = project();
    deploy(&p, "staging");
    let first = "k".repeat(32);
    let server = Server::start_with(&p, &[("HAUL_SESSION_KEY", &first)]);
    let port = server.port;
    let base = format!("http://127.0.0.1:{port}");
    let b = Browser::start();
    sign_in(&b, &base, "bob-secret");
    b.script("window.__kept = 7;");

    // The server goes away for a while and comes back: the page stays,
    // and follows the ledger again.
    server.stop();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(b.url(), format!("{base}/"), "a page was moved on while its server was down");
    let server = Server::start_on(&p, port, &[("HAUL_SESSION_KEY", &first)]);
    p.write("src/index.html", "v2");
    let v2 = deploy(&p, "staging");
    let cell = r#"td.cell[data-app="app"][data-env="staging"]"#;
    b.wait_for("the new release, after the server came back", |b| b.text(cell).contains(&v2));
    assert_eq!(b.script("return window.__kept;"), 7, "the page was reloaded, not updated in place");

    // Back with another key: the session is void, the page goes to sign in.
    server.stop();
    let _server = Server::start_on(&p, port, &[("HAUL_SESSION_KEY", &"n".repeat(32))]);
    b.wait_for("the sign-in page", |b| b.url().starts_with(&format!("{base}/login")));
}
