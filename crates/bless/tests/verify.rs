//! Every refusal of `verify`, each by a real tampered or forged document.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use haul_bless::{Accepted, ArchiveRef, Envelope, Refusal, SecretKey, Signature, Trust, check_object, verify};
use jiff::SignedDuration;
use support::{blessing, now, trust};

fn judge(env: &Envelope, trust: &Trust, accepted: Option<Accepted>) -> Result<haul_bless::Blessing, Refusal> {
    // Through the bytes, as an agent reads them.
    let read = Envelope::from_bytes(&env.to_bytes())?;
    verify(&read, trust, "web", "prod", accepted, now())
}

/// The document's JSON with `edit` applied, signed by `key`.
fn signed_json(key: &SecretKey, edit: impl FnOnce(&mut serde_json::Value)) -> Envelope {
    let mut v = serde_json::to_value(blessing(1)).unwrap();
    edit(&mut v);
    Envelope::sign_json(serde_json::to_vec(&v).unwrap(), &[key])
}

#[test]
fn a_blessing_signed_by_a_trusted_key_is_accepted() {
    let k = SecretKey::generate("ops");
    let env = Envelope::sign(&blessing(3), &[&k]);
    let doc = judge(&env, &trust(&[&k], 1), None).unwrap();
    assert_eq!(doc, blessing(3));
    // An agent resuming what it accepted accepts it again.
    let acc = Accepted::of(&doc, &env);
    assert_eq!(judge(&env, &trust(&[&k], 1), Some(acc.clone())).unwrap(), doc);
    // And the next version after it.
    let next = Envelope::sign(&blessing(4), &[&k]);
    assert_eq!(judge(&next, &trust(&[&k], 1), Some(acc)).unwrap().version, 4);
}

#[test]
fn flipped_payload_byte_is_refused() {
    let k = SecretKey::generate("ops");
    let mut env = Envelope::sign(&blessing(1), &[&k]);
    let mut json = STANDARD.decode(&env.payload).unwrap();
    // "version":1 becomes "version":9: still a valid document.
    let at = json.windows(10).position(|w| w == b"\"version\":").unwrap() + 10;
    json[at] = b'9';
    env.payload = STANDARD.encode(&json);
    assert!(matches!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::BadSignature { .. })));
}

#[test]
fn unsigned_blessing_is_refused() {
    let k = SecretKey::generate("ops");
    let env = Envelope::sign(&blessing(1), &[]);
    assert_eq!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::Unsigned));
}

#[test]
fn blessing_signed_by_an_untrusted_key_is_refused() {
    let (k, stranger) = (SecretKey::generate("ops"), SecretKey::generate("stranger"));
    let env = Envelope::sign(&blessing(1), &[&stranger]);
    assert_eq!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::NotEnoughSignatures { have: 0, need: 1 }));
}

#[test]
fn signature_claiming_a_trusted_key_it_is_not_is_refused() {
    let (k, stranger) = (SecretKey::generate("ops"), SecretKey::generate("stranger"));
    let mut env = Envelope::sign(&blessing(1), &[&stranger]);
    env.signatures[0].key = k.public().id();
    assert!(matches!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::BadSignature { .. })));
    // Even beside a good signature by that key.
    let mut env = Envelope::sign(&blessing(1), &[&k, &stranger]);
    env.signatures[1].key = k.public().id();
    assert!(matches!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::BadSignature { .. })));
}

#[test]
fn signature_that_is_not_base64_of_64_bytes_is_refused() {
    let k = SecretKey::generate("ops");
    for sig in ["", "!!!!", &STANDARD.encode([0u8; 63]), &STANDARD.encode([0u8; 65])] {
        let mut env = Envelope::sign(&blessing(1), &[&k]);
        env.signatures[0].sig = sig.to_string();
        assert!(matches!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::BadSignature { .. })), "{sig:?}");
    }
}

#[test]
fn unknown_extra_signature_is_ignored() {
    let (k, stranger) = (SecretKey::generate("ops"), SecretKey::generate("stranger"));
    let mut env = Envelope::sign(&blessing(1), &[&stranger, &k]);
    env.signatures.push(Signature { key: haul_bless::KeyId("0000000000000000".into()), sig: "garbage".into() });
    assert_eq!(judge(&env, &trust(&[&k], 1), None).unwrap().version, 1);
}

#[test]
fn threshold_two_with_one_key_is_refused() {
    let (a, b) = (SecretKey::generate("a"), SecretKey::generate("b"));
    let env = Envelope::sign(&blessing(1), &[&a]);
    assert_eq!(judge(&env, &trust(&[&a, &b], 2), None), Err(Refusal::NotEnoughSignatures { have: 1, need: 2 }));
}

#[test]
fn duplicate_signature_by_one_key_counts_once() {
    let (a, b) = (SecretKey::generate("a"), SecretKey::generate("b"));
    let mut env = Envelope::sign(&blessing(1), &[&a]);
    env.cosign(&a).unwrap();
    env.signatures.push(env.signatures[0].clone());
    assert_eq!(judge(&env, &trust(&[&a, &b], 2), None), Err(Refusal::NotEnoughSignatures { have: 1, need: 2 }));
    // A trust listing one key twice does not count it twice either.
    let twice = Trust { keys: vec![a.public(), a.public()], threshold: 2 };
    assert_eq!(judge(&env, &twice, None), Err(Refusal::NotEnoughSignatures { have: 1, need: 2 }));
}

#[test]
fn two_of_three_keys_cosigning_are_accepted() {
    let (a, b, c) = (SecretKey::generate("a"), SecretKey::generate("b"), SecretKey::generate("c"));
    let mut env = Envelope::sign(&blessing(1), &[&a]);
    env.cosign(&c).unwrap();
    assert_eq!(judge(&env, &trust(&[&a, &b, &c], 2), None).unwrap().version, 1);
}

#[test]
fn trust_threshold_of_zero_or_more_than_the_keys_is_refused() {
    let a = SecretKey::generate("a");
    assert!(Trust::new(vec![a.public()], 0).is_err());
    assert!(Trust::new(vec![a.public(), a.public()], 2).is_err());
    // A threshold of 0 built by hand still needs one signature.
    let zero = Trust { keys: vec![a.public()], threshold: 0 };
    assert_eq!(judge(&Envelope::sign(&blessing(1), &[]), &zero, None), Err(Refusal::Unsigned));
    let stranger = SecretKey::generate("s");
    let env = Envelope::sign(&blessing(1), &[&stranger]);
    assert_eq!(judge(&env, &zero, None), Err(Refusal::NotEnoughSignatures { have: 0, need: 1 }));
}

#[test]
fn replayed_lower_version_is_refused() {
    let k = SecretKey::generate("ops");
    let old = Envelope::sign(&blessing(4), &[&k]);
    let acc = Accepted { version: 5, envelope: "x".into() };
    assert_eq!(judge(&old, &trust(&[&k], 1), Some(acc)), Err(Refusal::Replayed { found: 4, accepted: 5 }));
}

#[test]
fn substituted_same_version_is_refused() {
    let k = SecretKey::generate("ops");
    let first = Envelope::sign(&blessing(5), &[&k]);
    let acc = Accepted::of(&blessing(5), &first);
    let mut other = blessing(5);
    other.release = haul_release::ReleaseId::parse("20261202T050000.000Z-ba9876543210").unwrap();
    let second = Envelope::sign(&other, &[&k]);
    assert_eq!(judge(&second, &trust(&[&k], 1), Some(acc)), Err(Refusal::Substituted { version: 5 }));
}

#[test]
fn expired_blessing_is_refused() {
    let k = SecretKey::generate("ops");
    for expires in [now() - SignedDuration::from_secs(1), now()] {
        let mut doc = blessing(1);
        doc.issued = expires - SignedDuration::from_hours(1);
        doc.expires = expires;
        let env = Envelope::sign(&doc, &[&k]);
        assert_eq!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::Expired { expires }));
    }
}

#[test]
fn blessing_issued_after_it_expires_is_refused() {
    let k = SecretKey::generate("ops");
    let mut doc = blessing(1);
    doc.issued = doc.expires + SignedDuration::from_secs(1);
    assert!(matches!(judge(&Envelope::sign(&doc, &[&k]), &trust(&[&k], 1), None), Err(Refusal::Malformed(_))));
}

#[test]
fn blessing_for_another_app_is_refused() {
    let k = SecretKey::generate("ops");
    let mut doc = blessing(1);
    doc.app = "api".into();
    let got = judge(&Envelope::sign(&doc, &[&k]), &trust(&[&k], 1), None);
    assert_eq!(got, Err(Refusal::WrongTarget { expected: "web/prod".into(), found: "api/prod".into() }));
}

#[test]
fn blessing_for_another_env_is_refused() {
    let k = SecretKey::generate("ops");
    let mut doc = blessing(1);
    doc.env = "staging".into();
    let got = judge(&Envelope::sign(&doc, &[&k]), &trust(&[&k], 1), None);
    assert_eq!(got, Err(Refusal::WrongTarget { expected: "web/prod".into(), found: "web/staging".into() }));
}

#[test]
fn signed_document_with_an_unknown_field_is_refused() {
    let k = SecretKey::generate("ops");
    let env = signed_json(&k, |v| {
        v["steps"]["extra"] = serde_json::json!("rm -rf /");
    });
    assert!(matches!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::Malformed(m)) if m.contains("extra")));
}

#[test]
fn signed_document_with_a_duplicate_field_is_refused() {
    let k = SecretKey::generate("ops");
    let json = serde_json::to_string(&blessing(1)).unwrap();
    let json = json.replacen("\"app\":\"web\"", "\"app\":\"web\",\"app\":\"api\"", 1);
    let env = Envelope::sign_json(json.into_bytes(), &[&k]);
    assert!(matches!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::Malformed(_))));
}

#[test]
fn signed_document_of_another_format_is_refused() {
    let k = SecretKey::generate("ops");
    let env = signed_json(&k, |v| {
        v["format"] = serde_json::json!(2);
        v["new_field"] = serde_json::json!(true);
    });
    assert_eq!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::Format(2)));
}

#[test]
fn signed_document_with_a_bad_release_id_or_digest_is_refused() {
    let k = SecretKey::generate("ops");
    let edits: [fn(&mut serde_json::Value); 3] = [
        |v| v["release"] = serde_json::json!("../../etc"),
        |v| v["archive"]["blake3"] = serde_json::json!("abc"),
        |v| v["record"]["blake3"] = serde_json::json!("A".repeat(64)),
    ];
    for edit in edits {
        let env = signed_json(&k, edit);
        assert!(matches!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::Malformed(_))));
    }
}

#[test]
fn oversize_envelope_is_refused() {
    let k = SecretKey::generate("ops");
    let mut doc = blessing(1);
    doc.reason = Some("x".repeat(Envelope::MAX_BYTES));
    let bytes = Envelope::sign(&doc, &[&k]).to_bytes();
    assert!(matches!(Envelope::from_bytes(&bytes), Err(Refusal::TooLarge { max: Envelope::MAX_BYTES, .. })));
}

#[test]
fn envelope_that_is_not_one_is_refused() {
    let k = SecretKey::generate("ops");
    let good = String::from_utf8(Envelope::sign(&blessing(1), &[&k]).to_bytes()).unwrap();
    let extra = good.replacen("{", "{\"unsigned_extra\":1,", 1);
    let truncated = &good[..good.len() / 2];
    for bad in [extra.as_str(), truncated, "", "null", "[]"] {
        assert!(matches!(Envelope::from_bytes(bad.as_bytes()), Err(Refusal::Malformed(_))), "{bad:?}");
    }
}

#[test]
fn payload_that_is_not_strict_base64_is_refused() {
    let k = SecretKey::generate("ops");
    let mut env = Envelope::sign(&blessing(1), &[&k]);
    env.payload = env.payload.trim_end_matches('=').to_string() + "!";
    assert!(matches!(judge(&env, &trust(&[&k], 1), None), Err(Refusal::Malformed(_))));
}

#[test]
fn downloaded_object_that_does_not_match_is_refused() {
    let want = ArchiveRef { blake3: "a".repeat(64), size: 10 };
    assert_eq!(check_object("archive", &want, &"a".repeat(64), 10), Ok(()));
    assert!(
        matches!(check_object("archive", &want, &"a".repeat(64), 11), Err(Refusal::Mismatch { what, .. }) if what == "archive")
    );
    assert!(
        matches!(check_object("record", &want, &"b".repeat(64), 10), Err(Refusal::Mismatch { what, .. }) if what == "record")
    );
}

#[test]
fn signed_document_with_a_wave_of_no_or_too_many_hosts_is_refused() {
    let k = SecretKey::generate("ops");
    for p in [0u32, 101] {
        let mut doc = blessing(1);
        doc.waves = vec![haul_bless::Wave {
            name: "canary".into(),
            select: haul_bless::Selector::Percent(p),
            verifications: vec![],
            min_live: 0,
        }];
        assert!(
            matches!(judge(&Envelope::sign(&doc, &[&k]), &trust(&[&k], 1), None), Err(Refusal::Malformed(m)) if m.contains("canary"))
        );
    }
}

#[test]
fn no_single_bit_flip_anywhere_in_the_stored_bytes_is_accepted_as_another_document() {
    let k = SecretKey::generate("ops");
    let trust = trust(&[&k], 1);
    let bytes = Envelope::sign(&blessing(7), &[&k]).to_bytes();
    let mut accepted = 0;
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut tampered = bytes.clone();
            tampered[at] ^= 1 << bit;
            let got = Envelope::from_bytes(&tampered).and_then(|e| verify(&e, &trust, "web", "prod", None, now()));
            if let Ok(doc) = got {
                // Only a flip that leaves the meaning alone (an escape) may pass.
                assert_eq!(doc, blessing(7), "byte {at} bit {bit}");
                accepted += 1;
            }
        }
    }
    assert_eq!(accepted, 0);
}

#[test]
fn blessing_whose_app_and_env_only_join_to_the_same_text_is_refused() {
    let k = SecretKey::generate("ops");
    let mut doc = blessing(1);
    doc.app = "web/prod".into();
    doc.env = "x".into();
    let env = Envelope::sign(&doc, &[&k]);
    let got = verify(&env, &trust(&[&k], 1), "web", "prod/x", None, now());
    assert!(matches!(got, Err(Refusal::WrongTarget { .. })), "{got:?}");
}

#[test]
fn blessing_padded_with_copies_of_a_signature_is_judged_quickly_and_counted_once() {
    let (a, b) = (SecretKey::generate("a"), SecretKey::generate("b"));
    let mut env = Envelope::sign(&blessing(1), &[&a]);
    let one = env.signatures[0].clone();
    let each = serde_json::to_vec(&one).unwrap().len() + 1;
    let copies = (Envelope::MAX_BYTES - env.to_bytes().len()) / each - 1;
    env.signatures.extend(std::iter::repeat_n(one, copies));
    assert!(env.to_bytes().len() > Envelope::MAX_BYTES - 2 * each);
    // Judging costs about what reading costs (one verification, not one
    // per copy); measured against reading, so a busy machine slows both.
    let bytes = env.to_bytes();
    let started = std::time::Instant::now();
    let read = Envelope::from_bytes(&bytes).unwrap();
    let reading = started.elapsed();
    let started = std::time::Instant::now();
    let got = verify(&read, &trust(&[&a, &b], 2), "web", "prod", None, now());
    let judging = started.elapsed();
    assert_eq!(got, Err(Refusal::NotEnoughSignatures { have: 1, need: 2 }));
    assert!(judging < reading * 4 + std::time::Duration::from_millis(50), "judging {judging:?}, reading {reading:?}");
    assert_eq!(verify(&read, &trust(&[&a], 1), "web", "prod", None, now()).unwrap().version, 1);
}
