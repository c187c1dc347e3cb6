//! The front door over a real server (the wake tests' harness: SQLite
//! ledger, `file://` store), spoken to in raw HTTP/1.1 so the tests can see
//! which of the two ways served a connection: the front door answers with
//! `connection: close` and no chunked encoding, hyper streams the same
//! events chunked.

use super::{Sorted, judge};
use crate::wake::tests::Running;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEAD: &str =
    "GET /api/v1/agents/wake?app=web&env=prod HTTP/1.1\r\nhost: x\r\nauthorization: Bearer read-secret\r\n\r\n";

async fn connect(r: &Running) -> TcpStream {
    TcpStream::connect(r.base.strip_prefix("http://").unwrap()).await.unwrap()
}

/// Reads until `want` is seen (or the connection ends, or 10 s pass).
async fn read_until(s: &mut TcpStream, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&got).contains(want) {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

fn by_front(answer: &str) -> bool {
    let head = answer.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    head.contains("connection: close") && !head.contains("transfer-encoding")
}

#[test]
fn only_a_whole_bodiless_wake_head_is_kept() {
    let whole = HEAD.as_bytes();
    assert_eq!(judge(whole), Some(Sorted::Wake(whole.len())));
    // Still arriving: not sorted yet.
    for cut in [1, 10, 23, 24, 60, whole.len() - 1] {
        assert_eq!(judge(&whole[..cut]), None, "{cut}");
    }
    for other in [
        "GET /healthz HTTP/1.1\r\n\r\n",
        "POST /api/v1/agents/wake HTTP/1.1\r\n\r\n",
        "GET /api/v1/agents/wakeful HTTP/1.1\r\n\r\n",
        "GET /api/v1/agents/wake HTTP/1.0\r\n\r\n",
        "GET /api/v1/agents/wake HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
        "GET /api/v1/agents/wake HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET /api/v1/agents/wake HTTP/1.1\r\nupgrade: websocket\r\n\r\n",
        "GET /api/v1/agents/wake HTTP/1.1\r\nbad header\r\n\r\n",
        "get /api/v1/agents/wake HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(judge(other.as_bytes()), Some(Sorted::Hyper), "{other:?}");
    }
    let many: String = (0..40).map(|i| format!("x-{i}: y\r\n")).collect();
    let crowded = format!("GET /api/v1/agents/wake HTTP/1.1\r\n{many}\r\n");
    assert_eq!(judge(crowded.as_bytes()), Some(Sorted::Hyper), "more headers than the front door reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_subscription_is_served_by_the_front_door_and_woken() {
    let r = Running::start().await;
    let mut s = connect(&r).await;
    s.write_all(HEAD.as_bytes()).await.unwrap();
    r.bless("web", 3).await;
    let answer = read_until(&mut s, "\"version\":3").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(by_front(&answer), "{answer}");
    assert!(answer.contains("content-type: text/event-stream"), "{answer}");
    assert!(answer.contains("event: blessing"), "{answer}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_in_two_writes_is_still_the_front_doors() {
    let r = Running::start().await;
    let mut s = connect(&r).await;
    let (a, b) = HEAD.split_at(30);
    s.write_all(a.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.write_all(b.as_bytes()).await.unwrap();
    r.bless("web", 1).await;
    let answer = read_until(&mut s, "\"version\":1").await;
    assert!(answer.contains("\"version\":1") && by_front(&answer), "{answer}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_too_slow_to_sort_goes_to_hyper_and_is_served_the_same() {
    let r = Running::start().await;
    let mut s = connect(&r).await;
    let (a, b) = HEAD.split_at(30);
    s.write_all(a.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    s.write_all(b.as_bytes()).await.unwrap();
    r.bless("web", 2).await;
    let answer = read_until(&mut s, "\"version\":2").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.contains("\"version\":2"), "{answer}");
    assert!(!by_front(&answer), "hyper streams it chunked: {answer}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_subscription_gets_the_routers_error_with_its_length() {
    let r = Running::start().await;
    for (head, status) in [
        ("GET /api/v1/agents/wake?app=web&env=prod HTTP/1.1\r\nhost: x\r\n\r\n", "401"),
        ("GET /api/v1/agents/wake?app=nope&env=prod HTTP/1.1\r\nauthorization: Bearer read-secret\r\n\r\n", "404"),
        ("GET /api/v1/agents/wake?app=web&env=prod HTTP/1.1\r\nauthorization: Bearer deploy-secret\r\n\r\n", "403"),
    ] {
        let mut s = connect(&r).await;
        s.write_all(head.as_bytes()).await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{head:?}: {answer}");
        assert!(by_front(&answer), "{answer}");
        let (head_part, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head_part.contains(&format!("content-length: {}", body.len())), "{answer}");
        assert!(body.contains("\"message\""), "the error body: {answer}");
    }
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_requests_are_hypers_and_keep_their_connection() {
    let r = Running::start().await;
    let mut s = connect(&r).await;
    for _ in 0..2 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let answer = read_until(&mut s, "\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(!answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    }
    // A wake request with a body is hyper's too (nothing was consumed).
    let mut s = connect(&r).await;
    let with_body = "GET /api/v1/agents/wake?app=web&env=prod HTTP/1.1\r\nauthorization: Bearer read-secret\r\n\
                     content-length: 2\r\n\r\n{}";
    s.write_all(with_body.as_bytes()).await.unwrap();
    r.bless("web", 4).await;
    let answer = read_until(&mut s, "\"version\":4").await;
    assert!(answer.contains("\"version\":4") && !by_front(&answer), "{answer}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_hangs_up_leaves_nothing_behind() {
    let r = Running::start().await;
    let before = r.state.wake.receivers();
    let mut s = connect(&r).await;
    s.write_all(HEAD.as_bytes()).await.unwrap();
    read_until(&mut s, "\r\n\r\n").await;
    assert_eq!(r.state.wake.receivers(), before + 1);
    // Bytes after the head (a pipelined request) are not answered.
    s.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").await.unwrap();
    drop(s);
    for _ in 0..100 {
        if r.state.wake.receivers() == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(r.state.wake.receivers(), before, "the subscription's task ended with its connection");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_holds_up_no_one() {
    let r = Running::start().await;
    let _silent: Vec<TcpStream> = futures_util::future::join_all((0..50).map(|_| connect(&r))).await;
    let mut s = connect(&r).await;
    s.write_all(HEAD.as_bytes()).await.unwrap();
    r.bless("web", 5).await;
    let answer = read_until(&mut s, "\"version\":5").await;
    assert!(answer.contains("\"version\":5"), "{answer}");
    r.stop().await;
}
