//! A release's record read back from a local host, where haul reads the
//! file itself instead of starting `read-release.sh`: the record that
//! staging wrote, the same bytes `cat` gives, and an error naming the host
//! and the path when the release is not there.

use haul_host::{Holder, HostApp, LockInfo};
use haul_release::{ReleaseCache, ReleaseId};
use haul_transport::{Local, Transport};

#[test]
fn a_local_host_reads_the_record_staging_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = ReleaseCache::new(tmp.path().join("cache"));
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("css")).unwrap();
    std::fs::write(src.join("index.html"), "hello").unwrap();
    std::fs::write(src.join("css/site.css"), "body {}").unwrap();
    let (r, _) = cache.build("app", &src, "test", None).unwrap();
    let dir = tmp.path().join("host/app");
    let host = HostApp::new(Transport::Local(Local::new("h1")), dir.display().to_string());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let id = ReleaseId::parse(&r.id).unwrap();

    rt.block_on(async {
        let contents = cache.contents(&r).unwrap();
        let lock = LockInfo::new(Holder::current(), "t", "deploy".into());
        host.lock(&lock).await.unwrap();
        host.stage_complete(&r, &contents, None, &[], false, &lock.token).await.unwrap();
        let read = host.read_release(&id).await.unwrap();
        assert_eq!(read.to_lines(), r.to_lines(), "the record as staged");
        let on_disk = std::fs::read_to_string(dir.join(format!("releases/{id}.manifest"))).unwrap();
        assert_eq!(read.to_lines(), on_disk, "what `cat` would have printed");

        let missing = ReleaseId::parse("20200101T000000.000Z-000000000000").unwrap();
        let e = host.read_release(&missing).await.unwrap_err().to_string();
        assert!(e.contains("h1") && e.contains(&format!("releases/{missing}.manifest")), "{e}");
    });
}
