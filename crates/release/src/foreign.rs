//! What an archive another tool made is, known by its first bytes rather
//! than its name: gzip (`1f 8b`), zstd (`28 b5 2f fd`) or a plain tar (a
//! first header whose checksum holds, or the zero block of an empty tar).
//! Anything else is refused saying what it looks like.

use crate::ArchiveRefusal;
use std::io::{self, Read};

/// The decompressed tar stream of `file`, or what it is instead.
pub(crate) fn open_tar(mut file: impl Read + 'static) -> io::Result<Result<Box<dyn Read>, ArchiveRefusal>> {
    let mut head = Vec::with_capacity(512);
    (&mut file).take(512).read_to_end(&mut head)?;
    let kind = sniff(&head);
    let whole = io::Cursor::new(head).chain(file);
    Ok(match kind {
        Sniffed::Gzip => Ok(Box::new(flate2::read::MultiGzDecoder::new(whole))),
        Sniffed::Zstd => Ok(Box::new(zstd::Decoder::new(whole)?)),
        Sniffed::Tar => Ok(Box::new(whole)),
        Sniffed::Other(found) => Err(ArchiveRefusal::Format { found }),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Sniffed {
    Gzip,
    Zstd,
    Tar,
    Other(String),
}

fn sniff(head: &[u8]) -> Sniffed {
    const KNOWN: &[(&[u8], &str)] = &[
        (b"PK\x03\x04", "a zip archive"),
        (b"BZh", "a bzip2 stream"),
        (b"\xfd7zXZ\x00", "an xz stream"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
        (b"\x28\xb5\x2f", "a truncated zstd stream"),
    ];
    if head.starts_with(&[0x1f, 0x8b]) {
        return Sniffed::Gzip;
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Sniffed::Zstd;
    }
    if head.len() == 512 && (head.iter().all(|b| *b == 0) || checksum_holds(head)) {
        return Sniffed::Tar;
    }
    if let Some((_, what)) = KNOWN.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Sniffed::Other(what.to_string());
    }
    if head.is_empty() {
        return Sniffed::Other("an empty file".into());
    }
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let what = if head.len() < 512 { "a file shorter than one tar header" } else { "no tar header" };
    Sniffed::Other(format!("{what}, starting with bytes {}", hex.join(" ")))
}

/// A tar header's checksum: the byte sum with the checksum field as spaces.
fn checksum_holds(block: &[u8]) -> bool {
    let header = tar::Header::from_byte_slice(block);
    let sum: u32 = block[..148].iter().chain(&block[156..]).map(|b| *b as u32).sum::<u32>() + 8 * 32;
    header.cksum().ok() == Some(sum)
}

#[cfg(test)]
mod tests {
    use super::{Sniffed, sniff};

    #[test]
    fn formats_are_known_by_their_first_bytes() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Sniffed::Gzip);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Sniffed::Zstd);
        assert_eq!(sniff(&[0; 512]), Sniffed::Tar);
        let mut h = tar::Header::new_ustar();
        h.set_path("a").unwrap();
        h.set_cksum();
        assert_eq!(sniff(h.as_bytes()), Sniffed::Tar);
        let mut broken = h.as_bytes().to_vec();
        broken[0] = b'b';
        assert!(
            matches!(sniff(&broken), Sniffed::Other(s) if s.starts_with("no tar header, starting with bytes 62 00"))
        );
        assert_eq!(sniff(b"PK\x03\x04rest"), Sniffed::Other("a zip archive".into()));
        assert_eq!(sniff(b"BZh91AY"), Sniffed::Other("a bzip2 stream".into()));
        assert_eq!(sniff(b""), Sniffed::Other("an empty file".into()));
        assert!(matches!(sniff(b"hello"), Sniffed::Other(s) if s.contains("shorter than one tar header")));
    }
}
