//! `exec_stream` and `Input::Reader`: one script's stdout piped into
//! another's stdin through a bounded pipe, as `haul content sync` chains
//! an export into an import.

use haul_transport::{Input, Local, Transport};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn a_stream_larger_than_the_pipe_arrives_whole_and_in_order() {
    let a = Transport::Local(Local::new("a"));
    let b = Transport::Local(Local::new("b"));
    rt().block_on(async {
        // 64 KiB between the two: 40 MB can only pass if the writer waits
        // for the reader.
        let (w, r) = tokio::io::duplex(64 * 1024);
        let export = a.exec_stream("seq 1 5000000", &[] as &[&str], Input::None, Box::new(w), None);
        let import = b.exec_args("cksum; wc -l", &[] as &[&str], Input::Reader(Box::new(r)), None);
        let (e, i) = tokio::join!(export, import);
        let (e, i) = (e.unwrap(), i.unwrap());
        assert!(e.success() && !e.downstream_closed && e.stdout.is_empty(), "{}", e.combined());
        assert!(i.success(), "{}", i.combined());
        let want = std::process::Command::new("sh").args(["-c", "seq 1 5000000 | cksum"]).output().unwrap();
        let got = i.stdout_str();
        assert!(got.starts_with(String::from_utf8_lossy(&want.stdout).trim()), "{got}");
    });
}

#[test]
fn a_reader_that_stops_early_closes_the_writer_s_pipe() {
    let a = Transport::Local(Local::new("a"));
    let b = Transport::Local(Local::new("b"));
    rt().block_on(async {
        let (w, r) = tokio::io::duplex(4096);
        // `yes` never ends by itself: only the closed pipe stops it.
        let export = a.exec_stream("yes", &[] as &[&str], Input::None, Box::new(w), None);
        let import = b.exec_args("head -c 1000 >/dev/null; exit 3", &[] as &[&str], Input::Reader(Box::new(r)), None);
        let (e, i) = tokio::time::timeout(std::time::Duration::from_secs(30), async { tokio::join!(export, import) })
            .await
            .expect("the writer stops when the reader does");
        let (e, i) = (e.unwrap(), i.unwrap());
        assert_eq!(i.code, Some(3));
        assert!(e.downstream_closed, "the export saw its reader go");
    });
}
