//! A store that accepts connections and then says nothing (or stops in the
//! middle of an answer) must make a request fail within its timeout, not
//! hang: a real TCP server on loopback that never answers.

use haul_store::{Store, StoreError, StoreOptions};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Accepts every connection and keeps it open; `answer` is written after
/// the request is read (nothing: it never answers).
fn hanging_server(answer: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = s.read(&mut buf);
            let _ = s.write_all(answer);
            held.push(s);
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn open(endpoint: &str, timeout: Duration) -> Store {
    let vars = [
        ("AWS_ACCESS_KEY_ID", "haul-test-key"),
        ("AWS_SECRET_ACCESS_KEY", "haul-test-secret"),
        ("AWS_REGION", "us-east-1"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let options = StoreOptions {
        endpoint: Some(endpoint.into()),
        allow_http: true,
        timeout: Some(timeout),
        ..Default::default()
    };
    Store::open_with("s3://bucket/pull", &options, vars).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_never_answers_times_out() {
    let store = open(&hanging_server(b""), Duration::from_secs(1));
    let t = Instant::now();
    let e = store.get("blessings/web/prod/latest", 1024).await.unwrap_err();
    assert!(matches!(e, StoreError::Backend { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
    // Writes too.
    let t = Instant::now();
    assert!(store.overwrite("reports/web/prod/h.json", "{}".into()).await.is_err());
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stalls_in_the_middle_of_an_answer_times_out() {
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nETag: \"x\"\r\nLast-Modified: Wed, 02 Dec 2026 06:00:00 GMT\r\n\r\nsome bytes";
    let store = open(&hanging_server(answer), Duration::from_secs(1));
    let t = Instant::now();
    let e = store.get("releases/web/x/index.json", 1 << 20).await.unwrap_err();
    assert!(matches!(e, StoreError::Backend { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(15), "took {:?}", t.elapsed());
}

#[test]
fn the_timeout_defaults_to_thirty_seconds() {
    assert_eq!(StoreOptions::default().timeout(), Duration::from_secs(30));
    assert_eq!(StoreOptions { timeout: Some(Duration::ZERO), ..Default::default() }.timeout(), Duration::from_secs(30));
}
