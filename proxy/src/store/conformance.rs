//! What every backend must do, tested once and run against each: SQLite in memory, and
//! PostgreSQL in a schema of its own when `GATEHOUSE_TEST_POSTGRES` names a server (the
//! test command starts one; without it the PostgreSQL half says it skipped).

use crate::access::locks::{LockTarget, NewLock};
use crate::accounts::user::UserId;
use crate::auth::lockout::Attempt;
use crate::devices::device::Attestation;
use crate::gate::ticket::MfaTicket;
use crate::inventory::desktops::{Desktop, Security};
use crate::inventory::nodes::{Node, NodeName, parse_labels};
use crate::recordings::row::{RecordingFilter, RecordingRow};
use crate::store::StoreError;
use crate::store::backend::Store;

fn alice(store: &dyn Store) -> UserId {
    store.create_user("alice", &["dev".into(), "ops".into()], 100).unwrap()
}

fn user_names_are_unique(store: &dyn Store) {
    alice(store);
    assert!(matches!(store.create_user("alice", &[], 1), Err(StoreError::UserExists(_))));
    assert_eq!(store.list_users().unwrap().len(), 1);
}

fn new_user_has_roles_and_is_not_enrolled(store: &dyn Store) {
    let id = alice(store);
    let user = store.user_by_name("alice").unwrap().unwrap();
    assert_eq!((user.id, user.roles.clone()), (id, vec!["dev".to_string(), "ops".to_string()]));
    assert!(!user.is_enrolled());
    store.set_credentials(id, "hash", b"sealed", 7).unwrap();
    store.set_roles(id, &["admin".into()]).unwrap();
    let user = store.user_by_id(id).unwrap().unwrap();
    assert_eq!(
        (user.password_hash.as_deref(), user.totp_secret.as_deref(), user.totp_last_step),
        (Some("hash"), Some(&b"sealed"[..]), Some(7))
    );
    assert_eq!(user.roles, ["admin"]);
    store.reset_user(id).unwrap();
    assert!(!store.user_by_id(id).unwrap().unwrap().is_enrolled());
}

fn invite_is_single_use_and_expires(store: &dyn Store) {
    let id = alice(store);
    store.create_invite(id, "h1", 500).unwrap();
    let invite = store.invite("h1", 200).unwrap().unwrap();
    store.set_invite_totp(invite.id, b"pending").unwrap();
    assert_eq!(store.invite("h1", 200).unwrap().unwrap().pending_totp_secret.as_deref(), Some(&b"pending"[..]));
    assert!(store.invite("h1", 500).unwrap().is_none(), "expired at 500");
    assert!(store.consume_invites(invite.id, id).unwrap());
    assert!(!store.consume_invites(invite.id, id).unwrap());
    assert!(store.invite("h1", 200).unwrap().is_none());
}

fn session_expires_at_its_time(store: &dyn Store) {
    let id = alice(store);
    store.create_session("s1", id, "csrf", 100, 200).unwrap();
    let session = store.session("s1", 199).unwrap().unwrap();
    assert_eq!((session.user.name.as_str(), session.csrf_token.as_str()), ("alice", "csrf"));
    assert_eq!((session.created_at, session.expires_at), (100, 200));
    assert!(store.session("s1", 200).unwrap().is_none());
    assert_eq!(store.delete_expired(200).unwrap(), 1);
    store.create_session("s2", id, "csrf", 100, 200).unwrap();
    store.delete_session("s2").unwrap();
    assert!(store.session("s2", 150).unwrap().is_none());
}

fn a_session_remembers_a_confirmed_factor_and_ends_with_its_user(store: &dyn Store) {
    let id = alice(store);
    store.create_session("s1", id, "csrf", 100, 200).unwrap();
    store.create_session("s2", id, "csrf", 100, 200).unwrap();
    assert_eq!(store.session("s1", 110).unwrap().unwrap().confirmed_at, None);
    store.confirm_session("s1", 120).unwrap();
    let session = store.session("s1", 130).unwrap().unwrap();
    assert_eq!((session.confirmed_at, session.token_hash.as_str()), (Some(120), "s1"));
    let both = ["s1".to_string(), "s2".to_string(), "gone".to_string()];
    let mut found: Vec<String> = store.sessions(&both, 130).unwrap().into_iter().map(|s| s.token_hash).collect();
    found.sort();
    assert_eq!(found, ["s1", "s2"], "the live ones, in one call");
    assert!(store.sessions(&both, 200).unwrap().is_empty(), "expired");
    assert_eq!(store.delete_sessions_of(id).unwrap(), 2);
    assert!(store.session("s2", 130).unwrap().is_none());
}

fn an_attempt_past_the_limit_locks_the_name_without_counting(store: &dyn Store) {
    for n in 1..=3 {
        assert_eq!(store.begin_attempt("alice", 100, 0, 3, 500).unwrap(), Attempt::Counted { failures: n });
    }
    assert_eq!(store.begin_attempt("alice", 101, 0, 3, 500).unwrap(), Attempt::Locked { until: 500 });
    assert_eq!(store.begin_attempt("alice", 102, 0, 3, 900).unwrap(), Attempt::Locked { until: 500 });
    // Failures before the window do not count; a success clears them.
    assert_eq!(store.begin_attempt("bob", 100, 0, 1, 200).unwrap(), Attempt::Counted { failures: 1 });
    assert_eq!(store.begin_attempt("bob", 300, 250, 1, 400).unwrap(), Attempt::Counted { failures: 1 });
    store.clear_failures("bob").unwrap();
    assert_eq!(store.begin_attempt("bob", 301, 250, 1, 400).unwrap(), Attempt::Counted { failures: 1 });
    // An admin's lock holds until its time.
    store.lock("carol", 300).unwrap();
    assert_eq!(store.begin_attempt("carol", 299, 0, 5, 999).unwrap(), Attempt::Locked { until: 300 });
    assert_eq!(store.begin_attempt("carol", 300, 0, 5, 999).unwrap(), Attempt::Counted { failures: 1 });
}

fn attempts_from_one_client_are_capped_per_window(store: &dyn Store) {
    for at in [100, 101, 102] {
        assert!(store.count_client_attempt("192.0.2.1", at, at - 60, 3).unwrap());
    }
    assert!(!store.count_client_attempt("192.0.2.1", 103, 43, 3).unwrap());
    assert!(store.count_client_attempt("192.0.2.2", 103, 43, 3).unwrap(), "another client");
    assert!(store.count_client_attempt("192.0.2.1", 160, 101, 3).unwrap(), "the first left the window");
}

fn a_totp_step_is_used_once(store: &dyn Store) {
    let id = alice(store);
    assert!(store.use_totp_step(id, 10).unwrap());
    assert!(!store.use_totp_step(id, 10).unwrap());
    assert!(!store.use_totp_step(id, 9).unwrap());
    assert!(store.use_totp_step(id, 11).unwrap());
    store.set_totp_secret(id, b"new").unwrap();
    assert_eq!(store.user_by_id(id).unwrap().unwrap().totp_last_step, Some(11));
}

fn locks_hold_until_they_expire_or_are_removed(store: &dyn Store) {
    let forever = store
        .add_lock(&NewLock { target: LockTarget::User("alice".into()), reason: "left".into(), expires_at: None }, 100)
        .unwrap();
    let node = NewLock { target: LockTarget::Node("web-1".into()), reason: "patching".into(), expires_at: Some(200) };
    store.add_lock(&node, 100).unwrap();
    let active = store.active_locks(150).unwrap();
    assert_eq!(active.len(), 2);
    assert_eq!((active[1].target.clone(), active[1].reason.as_str()), (LockTarget::Node("web-1".into()), "patching"));
    assert_eq!(store.active_locks(200).unwrap().len(), 1, "expired at 200");
    assert!(store.remove_lock(forever).unwrap());
    assert!(!store.remove_lock(forever).unwrap());
    assert!(store.active_locks(150).unwrap().iter().all(|l| l.id != forever));
}

fn nodes_and_desktops_are_kept_and_replaced_by_name(store: &dyn Store) {
    let mut node = Node {
        name: NodeName::parse("web-1").unwrap(),
        addr: "127.0.0.1:22".into(),
        labels: parse_labels("env=dev").unwrap(),
    };
    store.put_node(&node).unwrap();
    node.addr = "127.0.0.1:2222".into();
    store.put_node(&node).unwrap();
    assert_eq!(store.list_nodes().unwrap(), vec![node]);
    let desktop = Desktop {
        name: NodeName::parse("win-1").unwrap(),
        addr: "10.0.0.5:3389".into(),
        labels: parse_labels("env=dev").unwrap(),
        username: "ops".into(),
        domain: Some("CORP".into()),
        security: Security::parse("nla").unwrap(),
        tls_pin: None,
    };
    store.put_desktop(&desktop, b"sealed").unwrap();
    store.pin_desktop("win-1", "SHA256:x").unwrap();
    let listed = store.list_desktops().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].0.tls_pin.as_deref(), listed[0].1.as_slice()), (Some("SHA256:x"), &b"sealed"[..]));
    assert_eq!(listed[0].0.domain.as_deref(), Some("CORP"));
}

fn the_audit_is_read_newest_first(store: &dyn Store) {
    use crate::audit::record::AuditRecord;
    for (at, user) in [(1, Some("alice")), (2, None)] {
        let record = AuditRecord {
            at,
            kind: "signin".into(),
            user: user.map(String::from),
            ip: Some("192.0.2.1".into()),
            detail: format!("at {at}"),
        };
        store.append_audit(&record).unwrap();
    }
    let recent = store.recent_audit(10).unwrap();
    assert_eq!(recent.iter().map(|r| r.at).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(recent[1].user.as_deref(), Some("alice"));
    assert_eq!(store.recent_audit(1).unwrap().len(), 1);
}

fn a_challenge_is_taken_once_and_not_after_it_expires(store: &dyn Store) {
    let user = alice(store);
    store.put_challenge("c1", "auth", Some(user), "{}", 200).unwrap();
    assert_eq!(store.take_challenge("c1", "register", 100).unwrap(), None, "another kind");
    assert_eq!(store.take_challenge("c1", "auth", 100).unwrap(), Some((Some(user), "{}".into())));
    assert_eq!(store.take_challenge("c1", "auth", 100).unwrap(), None, "used");
    store.put_challenge("c2", "auth", None, "{}", 200).unwrap();
    assert_eq!(store.take_challenge("c2", "auth", 201).unwrap(), None, "expired");
}

fn passkeys_belong_to_their_user(store: &dyn Store) {
    let alice = alice(store);
    let bob = store.create_user("bob", &[], 100).unwrap();
    let id = store.add_passkey(alice, "laptop", "cred-1", "{}", 100).unwrap();
    assert!(store.add_passkey(bob, "dup", "cred-1", "{}", 100).is_err(), "credential ids are unique");
    assert_eq!(store.passkeys(alice).unwrap().len(), 1);
    assert_eq!(store.passkey_by_credential("cred-1").unwrap().unwrap().user_id, alice);
    store.passkey_used(id, "{\"n\":1}", 150).unwrap();
    let used = &store.passkeys(alice).unwrap()[0];
    assert_eq!((used.last_used_at, used.passkey_json.as_str()), (Some(150), "{\"n\":1}"));
    assert!(!store.remove_passkey(bob, id).unwrap(), "not bob's");
    assert!(store.remove_passkey(alice, id).unwrap());
    assert!(store.passkeys(alice).unwrap().is_empty());
}

fn recordings_are_listed_newest_first_and_finished_later(store: &dyn Store) {
    let row = |id: &str, started_at| RecordingRow {
        id: id.into(),
        kind: "ssh".into(),
        user: "alice".into(),
        target: "web-1".into(),
        login: "ubuntu".into(),
        started_at,
        ended_at: None,
        file: format!("{id}.ghrec"),
        bytes: 0,
        end_reason: None,
        writer: Some("w1".into()),
        heartbeat_at: Some(started_at),
    };
    store.insert_recording(&row("a", 10)).unwrap();
    store.insert_recording(&row("b", 20)).unwrap();
    store.finish_recording("a", 15, 1234, "exit 0").unwrap();
    let listed = store.list_recordings(10).unwrap();
    assert_eq!(listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["b", "a"]);
    let a = store.recording("a").unwrap().unwrap();
    assert_eq!((a.ended_at, a.bytes, a.end_reason.as_deref()), (Some(15), 1234, Some("exit 0")));
    assert!(store.recording("c").unwrap().is_none());
    store.insert_recording(&RecordingRow { user: "bob".into(), ..row("c", 30) }).unwrap();
    let only = |filter: RecordingFilter| {
        let (rows, total) = store.search_recordings(&filter, 0, 10).unwrap();
        (rows.into_iter().map(|r| r.id).collect::<Vec<_>>(), total)
    };
    assert_eq!(only(RecordingFilter::default()), (vec!["c".into(), "b".into(), "a".into()], 3));
    assert_eq!(only(RecordingFilter { user: Some("alice".into()), ..Default::default() }).1, 2);
    assert_eq!(only(RecordingFilter { from: Some(15), to: Some(30), ..Default::default() }).0, ["b"]);
    assert_eq!(only(RecordingFilter { ids: Some(vec!["a".into()]), ..Default::default() }).0, ["a"]);
    assert_eq!(only(RecordingFilter { ids: Some(vec![]), ..Default::default() }).1, 0);
    let (page, total) = store.search_recordings(&RecordingFilter::default(), 1, 1).unwrap();
    assert_eq!((page[0].id.as_str(), total), ("b", 3));
}

fn a_writer_keeps_its_recordings_alive_and_one_taker_wins(store: &dyn Store) {
    let row = |id: &str, writer: Option<&str>| RecordingRow {
        id: id.into(),
        kind: "ssh".into(),
        user: "alice".into(),
        target: "web-1".into(),
        login: "ubuntu".into(),
        started_at: 10,
        ended_at: None,
        file: format!("{id}.ghrec"),
        bytes: 0,
        end_reason: None,
        writer: writer.map(str::to_string),
        heartbeat_at: writer.map(|_| 10),
    };
    store.insert_recording(&row("a", Some("w1"))).unwrap();
    store.insert_recording(&row("b", Some("w2"))).unwrap();
    store.insert_recording(&row("old", None)).unwrap();
    store.insert_recording(&row("done", Some("w1"))).unwrap();
    store.finish_recording("done", 12, 1, "exit").unwrap();
    assert_eq!(store.heartbeat_recordings("w1", 50).unwrap(), 1, "only the unfinished one");
    let unfinished = store.unfinished_recordings().unwrap();
    assert_eq!(unfinished.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a", "b", "old"]);
    assert_eq!(unfinished[0].heartbeat_at, Some(50));
    // Two takers saw w2 at 10: the first wins, the second sees a changed row.
    assert!(store.claim_recording("b", Some("w2"), Some(10), "w3", 60).unwrap());
    assert!(!store.claim_recording("b", Some("w2"), Some(10), "w4", 61).unwrap());
    assert_eq!(store.recording("b").unwrap().unwrap().writer.as_deref(), Some("w3"));
    // A heartbeat after the look is a writer that came back: not taken.
    assert!(!store.claim_recording("a", Some("w1"), Some(10), "w3", 60).unwrap());
    assert!(store.claim_recording("old", None, None, "w3", 60).unwrap(), "NULL matches NULL");
    assert!(!store.claim_recording("done", Some("w1"), Some(10), "w3", 60).unwrap(), "ended");
}

fn a_ticket_is_taken_once_and_not_after_it_expires(store: &dyn Store) {
    let ticket = |expires_at| MfaTicket {
        user: "ana".into(),
        node: "web-1".into(),
        login: "ops".into(),
        expires_at,
        device: None,
    };
    store.put_ticket("t1", &ticket(200), 100).unwrap();
    assert_eq!(store.take_ticket("t1", 150).unwrap(), Some(ticket(200)));
    let by_device = MfaTicket { device: Some(7), ..ticket(200) };
    store.put_ticket("t0", &by_device, 100).unwrap();
    assert_eq!(store.take_ticket("t0", 150).unwrap(), Some(by_device), "the device that answered is kept");
    assert_eq!(store.take_ticket("t1", 150).unwrap(), None, "used");
    store.put_ticket("t2", &ticket(150), 100).unwrap();
    assert_eq!(store.take_ticket("t2", 151).unwrap(), None, "expired");
    store.put_ticket("t3", &ticket(150), 100).unwrap();
    store.put_ticket("t4", &ticket(400), 300).unwrap();
    assert_eq!(store.take_ticket("t3", 100).unwrap(), None, "expired ones leave when the next is issued");
}

fn a_device_is_enrolled_once_with_its_link_and_leaves_when_removed(store: &dyn Store) {
    let id = alice(store);
    let device = store.add_device(id, "laptop", "tok", 500, 100).unwrap().unwrap();
    assert_eq!(store.add_device(id, "laptop", "tok2", 500, 100).unwrap(), None, "one name per owner");
    let waiting = store.device_by_token("tok", 200).unwrap().unwrap();
    assert_eq!((waiting.id, waiting.owner.as_str(), waiting.name.as_str()), (device, "alice", "laptop"));
    assert_eq!(waiting.enrolled, None);
    assert!(store.device_by_token("tok", 500).unwrap().is_none(), "expired at 500");
    let attestation = Attestation {
        format: "packed".into(),
        aaguid: Some("01020304-0506-0708-0102-030405060708".into()),
        certified: true,
        backup_eligible: false,
    };
    assert!(!store.enrol_device("tok", "cred", "{}", &attestation, 500).unwrap(), "not after it expires");
    assert!(store.enrol_device("tok", "cred", "{}", &attestation, 300).unwrap());
    assert!(!store.enrol_device("tok", "cred2", "{}", &attestation, 300).unwrap(), "the link is spent");
    assert!(store.device_by_token("tok", 300).unwrap().is_none());
    store.device_used(device, "{\"n\":1}", 400).unwrap();
    let enrolled = store.device(device).unwrap().unwrap().enrolled.unwrap();
    assert_eq!((enrolled.credential_id.as_str(), enrolled.passkey_json.as_str()), ("cred", "{\"n\":1}"));
    assert_eq!((enrolled.attestation, enrolled.enrolled_at, enrolled.last_used_at), (attestation, 300, Some(400)));
    let bob = store.create_user("bob", &[], 100).unwrap();
    let other = store.add_device(bob, "laptop", "tok3", 500, 100).unwrap().unwrap();
    assert_eq!(store.devices_of(id).unwrap().len(), 1);
    let owners: Vec<String> = store.all_devices().unwrap().into_iter().map(|d| d.owner).collect();
    assert_eq!(owners, ["alice", "bob"]);
    let mut present = store.existing_devices(&[device, other, 999]).unwrap();
    present.sort();
    assert_eq!(present, [device, other], "in one call");
    assert!(store.remove_device(device).unwrap());
    assert!(!store.remove_device(device).unwrap());
    assert_eq!(store.existing_devices(&[device, other]).unwrap(), [other]);
    assert!(store.existing_devices(&[]).unwrap().is_empty());
}

fn certified_logins_last_as_long_as_their_certificate(store: &dyn Store) {
    store.note_certified("ana", "web-1", "ops", 160, 100).unwrap();
    store.note_certified("ana", "web-1", "deploy", 200, 100).unwrap();
    store.note_certified("bo", "web-1", "root", 200, 100).unwrap();
    assert_eq!(store.certified_logins("ana", "web-1", 150).unwrap(), ["ops", "deploy"]);
    assert_eq!(store.certified_logins("ana", "web-1", 170).unwrap(), ["deploy"]);
    assert!(store.certified_logins("ana", "web-2", 150).unwrap().is_empty());
}

fn the_first_keys_become_the_clusters(store: &dyn Store) {
    assert_eq!(store.cluster_key("user_ca").unwrap(), None);
    assert_eq!(store.agree_key("user_ca", "SHA256:a").unwrap(), "SHA256:a");
    assert_eq!(
        store.agree_key("user_ca", "SHA256:b").unwrap(),
        "SHA256:a",
        "a second proxy's keys do not replace them"
    );
    assert_eq!(store.cluster_key("user_ca").unwrap().as_deref(), Some("SHA256:a"));
    store.ping().unwrap();
}

fn new_request(user: &str, role: &str) -> crate::store::requests::NewRequest {
    crate::store::requests::NewRequest {
        user: user.into(),
        role: role.into(),
        reason: "incident 42".into(),
        duration_secs: 600,
    }
}

fn review(reviewer: &str, approve: bool, at: u64) -> crate::access::requests::Review {
    crate::access::requests::Review { reviewer: reviewer.into(), approve, comment: format!("{reviewer} says"), at }
}

fn a_request_is_approved_at_its_threshold_and_each_reviewer_counts_once(store: &dyn Store) {
    use crate::access::requests::{State, Status};
    use crate::store::requests::Reviewed;
    let id = store.create_request(&new_request("bob", "ops"), 100).unwrap();
    let pending = store.request(id).unwrap().unwrap();
    assert_eq!((pending.user.as_str(), pending.role.as_str(), pending.state), ("bob", "ops", State::Pending));
    let Reviewed::Done(after_one) = store.review_request(id, &review("carol", true, 110), 2).unwrap() else {
        panic!("the first review is recorded");
    };
    assert_eq!((after_one.state, after_one.approvals()), (State::Pending, 1), "one of two");
    assert_eq!(store.review_request(id, &review("carol", true, 111), 2).unwrap(), Reviewed::AlreadyReviewed);
    let Reviewed::Done(approved) = store.review_request(id, &review("dave", true, 120), 2).unwrap() else {
        panic!("the second review is recorded");
    };
    assert_eq!((approved.state, approved.expires_at, approved.decided_at), (State::Approved, Some(720), Some(120)));
    assert_eq!(approved.reviews.iter().map(|r| r.reviewer.as_str()).collect::<Vec<_>>(), ["carol", "dave"]);
    assert_eq!(approved.reviews[0].comment, "carol says");
    assert!(matches!(store.review_request(id, &review("erin", false, 130), 2).unwrap(), Reviewed::NotPending(_)));
    assert_eq!(store.review_request(999, &review("erin", true, 130), 1).unwrap(), Reviewed::Missing);
    assert_eq!(store.request(id).unwrap().unwrap().status(720), Status::Expired);
}

fn one_denial_denies_and_racing_reviews_approve_once(store: &dyn Store) {
    use crate::access::requests::State;
    use crate::store::requests::Reviewed;
    let denied = store.create_request(&new_request("bob", "ops"), 100).unwrap();
    let Reviewed::Done(request) = store.review_request(denied, &review("carol", false, 110), 1).unwrap() else {
        panic!("recorded");
    };
    assert_eq!((request.state, request.expires_at), (State::Denied, None));
    // Ten reviewers at once on a request needing one approval: it is approved once, and
    // the others find it decided.
    let raced = store.create_request(&new_request("bob", "ops"), 100).unwrap();
    let outcomes: Vec<Reviewed> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10)
            .map(|i| scope.spawn(move || store.review_request(raced, &review(&format!("r{i}"), true, 200), 1).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let done = outcomes.iter().filter(|o| matches!(o, Reviewed::Done(_))).count();
    assert_eq!(done, 1, "{outcomes:?}");
    assert_eq!(store.request(raced).unwrap().unwrap().reviews.len(), 1);
}

fn grants_are_read_in_one_batch_and_revocation_ends_them(store: &dyn Store) {
    use crate::access::requests::Status;
    let bob = store.create_request(&new_request("bob", "ops"), 100).unwrap();
    store.review_request(bob, &review("carol", true, 100), 1).unwrap();
    let alice = store.create_request(&new_request("alice", "db"), 100).unwrap();
    store.review_request(alice, &review("carol", true, 100), 1).unwrap();
    let pending = store.create_request(&new_request("bob", "db"), 100).unwrap();
    let users = ["alice".to_string(), "bob".to_string(), "zed".to_string()];
    let grants = store.grants(&users, 200).unwrap();
    assert_eq!(
        grants.iter().map(|g| (g.user.as_str(), g.role.as_str())).collect::<Vec<_>>(),
        [("bob", "ops"), ("alice", "db")]
    );
    assert!(grants.iter().all(|g| g.active(200) && g.expires_at == 700));
    assert!(store.grants(&users, 700).unwrap().is_empty(), "expired before 700");
    assert!(store.revoke_request(pending, "carol", "no", 300).unwrap().is_none(), "only an approved one");
    let revoked = store.revoke_request(bob, "carol", "incident over", 300).unwrap().unwrap();
    assert_eq!(revoked.status(300), Status::Revoked);
    assert_eq!(revoked.revoked, Some(("carol".into(), 300, "incident over".into())));
    assert!(store.revoke_request(bob, "carol", "again", 301).unwrap().is_none());
    let bobs = store.grants(&["bob".to_string()], 200).unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].revoked, Some(("carol".into(), 300)));
    assert!(!bobs[0].active(301));
    // Listing: pending ones whatever their age, newest first, with reviews.
    let listed = store.requests(10_000, 50).unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [pending]);
    let all = store.requests(0, 50).unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), [pending, alice, bob]);
    assert_eq!(all[2].reviews.len(), 1);
    // Expiry is taken once: alice's (approved at 100 for 600 s), not bob's (revoked).
    assert!(store.take_expired(699).unwrap().is_empty());
    let expired = store.take_expired(700).unwrap();
    assert_eq!(expired.iter().map(|r| r.id).collect::<Vec<_>>(), [alice]);
    assert!(store.take_expired(800).unwrap().is_empty(), "once");
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&crate::store::sqlite::SqliteStore::in_memory().unwrap());
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    match crate::store::postgres::tests::test_store() {
                        Some(store) => super::$name(&store),
                        None => eprintln!("skipped: GATEHOUSE_TEST_POSTGRES is not set"),
                    }
                }
            )*
        }
    };
}

fn an_sso_flow_is_taken_once_and_not_after_it_expires(store: &dyn Store) {
    let id = alice(store);
    let flow = crate::sso::flow::Flow {
        connector: "corp".into(),
        binding_hash: "b".into(),
        pkce_verifier: "v".into(),
        nonce: "n".into(),
        user: None,
        expires_at: 200,
    };
    store.put_flow("f1", &flow, 100).unwrap();
    store.put_flow("f2", &crate::sso::flow::Flow { user: Some(id), ..flow.clone() }, 100).unwrap();
    assert_eq!(store.take_flow("f1", 150).unwrap(), Some(flow.clone()));
    assert_eq!(store.take_flow("f1", 150).unwrap(), None, "a replayed callback finds nothing");
    assert_eq!(store.take_flow("f2", 200).unwrap(), None, "expired at 200");
    assert_eq!(store.take_flow("f2", 150).unwrap(), None, "gone with the expired take");
    store.put_flow("f3", &flow, 100).unwrap();
    store.put_flow("f4", &flow, 250).unwrap();
    assert_eq!(store.take_flow("f3", 100).unwrap(), None, "dropped when a later flow was kept");
}

fn a_subject_is_linked_to_one_account(store: &dyn Store) {
    let id = alice(store);
    let other = store.create_user("bob", &[], 1).unwrap();
    assert_eq!(store.sso_user("corp", "sub-1").unwrap(), None);
    assert!(store.link_sso("corp", "sub-1", "https://id.corp.example", id, 5).unwrap());
    assert!(!store.link_sso("corp", "sub-1", "https://id.corp.example", other, 6).unwrap(), "the first link stands");
    assert_eq!(store.sso_user("corp", "sub-1").unwrap(), Some((id, "https://id.corp.example".to_string())));
    assert_eq!(store.sso_user("other", "sub-1").unwrap(), None, "subjects are per connector");
    assert!(store.link_sso("another", "sub-7", "https://other.example", id, 7).unwrap());
    assert_eq!(store.sso_links(id).unwrap(), ["another", "corp"]);
    assert!(store.sso_links(other).unwrap().is_empty());
    store.reset_user(id).unwrap();
    assert_eq!(store.sso_user("corp", "sub-1").unwrap().map(|(user, _)| user), Some(id), "a reset keeps the link");
}

on_every_backend!(
    user_names_are_unique,
    new_user_has_roles_and_is_not_enrolled,
    invite_is_single_use_and_expires,
    session_expires_at_its_time,
    a_session_remembers_a_confirmed_factor_and_ends_with_its_user,
    an_attempt_past_the_limit_locks_the_name_without_counting,
    attempts_from_one_client_are_capped_per_window,
    a_totp_step_is_used_once,
    locks_hold_until_they_expire_or_are_removed,
    nodes_and_desktops_are_kept_and_replaced_by_name,
    the_audit_is_read_newest_first,
    a_challenge_is_taken_once_and_not_after_it_expires,
    passkeys_belong_to_their_user,
    recordings_are_listed_newest_first_and_finished_later,
    a_writer_keeps_its_recordings_alive_and_one_taker_wins,
    a_ticket_is_taken_once_and_not_after_it_expires,
    a_device_is_enrolled_once_with_its_link_and_leaves_when_removed,
    certified_logins_last_as_long_as_their_certificate,
    the_first_keys_become_the_clusters,
    an_sso_flow_is_taken_once_and_not_after_it_expires,
    a_subject_is_linked_to_one_account,
    a_request_is_approved_at_its_threshold_and_each_reviewer_counts_once,
    one_denial_denies_and_racing_reviews_approve_once,
    grants_are_read_in_one_batch_and_revocation_ends_them,
    apps_are_kept_replaced_and_removed_by_name,
    a_launch_is_taken_once_and_app_sessions_end_with_their_web_session,
    a_new_app_key_retires_the_others_and_the_first_is_made_once,
);

fn apps_are_kept_replaced_and_removed_by_name(store: &dyn Store) {
    use crate::inventory::apps::{App, AppUri};
    let mut app = App {
        name: NodeName::parse("wiki").unwrap(),
        uri: AppUri::parse("http://10.0.0.7:3000").unwrap(),
        labels: parse_labels("env=dev").unwrap(),
        host_header: None,
        rewrite_redirects: true,
    };
    store.put_app(&app).unwrap();
    app.host_header = Some("wiki.internal".into());
    app.rewrite_redirects = false;
    store.put_app(&app).unwrap();
    assert_eq!(store.list_apps().unwrap(), vec![app]);
    assert!(store.remove_app("wiki").unwrap());
    assert!(!store.remove_app("wiki").unwrap());
    assert!(store.list_apps().unwrap().is_empty());
}

fn a_launch_is_taken_once_and_app_sessions_end_with_their_web_session(store: &dyn Store) {
    use crate::apps::session::{AppSession, Launch};
    let launch = Launch {
        state_hash: "s".into(),
        app: "wiki".into(),
        user: "alice".into(),
        web_session: "w1".into(),
        path: "/".into(),
        expires_at: 160,
    };
    store.put_app_launch("l1", &launch, 100).unwrap();
    store.put_app_launch("l2", &launch, 100).unwrap();
    assert_eq!(store.take_app_launch("l1", 150).unwrap(), Some(launch.clone()));
    assert_eq!(store.take_app_launch("l1", 150).unwrap(), None, "once");
    assert_eq!(store.take_app_launch("l2", 160).unwrap(), None, "expired at 160");
    let session = |web: &str| AppSession {
        app: "wiki".into(),
        user: "alice".into(),
        web_session: web.into(),
        created_at: 100,
        expires_at: 500,
    };
    store.put_app_session("a1", &session("w1"), 100).unwrap();
    store.put_app_session("a2", &session("w1"), 100).unwrap();
    store.put_app_session("a3", &session("w2"), 100).unwrap();
    assert_eq!(store.app_session("a1", 499).unwrap(), Some(session("w1")));
    assert_eq!(store.app_session("a1", 500).unwrap(), None, "expired with its web session");
    let mut ended = store.end_app_sessions("w1").unwrap();
    ended.sort_by(|a, b| a.web_session.cmp(&b.web_session));
    assert_eq!(ended.len(), 2);
    assert_eq!(store.app_session("a2", 200).unwrap(), None);
    assert_eq!(store.app_session("a3", 200).unwrap(), Some(session("w2")), "another web session's stays");
}

fn a_new_app_key_retires_the_others_and_the_first_is_made_once(store: &dyn Store) {
    use crate::apps::keys::StoredKey;
    let key = |kid: &str, at: u64| StoredKey {
        kid: kid.into(),
        public_key: vec![1; 32],
        private_sealed: vec![2; 48],
        created_at: at,
        signs_from: at + 5,
        retired_at: None,
    };
    assert!(store.add_first_app_key(&key("k1", 10)).unwrap());
    assert!(!store.add_first_app_key(&key("k0", 11)).unwrap(), "another proxy made the first");
    store.add_app_key(&key("k2", 20)).unwrap();
    let keys = store.app_keys().unwrap();
    assert_eq!(
        keys.iter().map(|k| (k.kid.as_str(), k.retired_at)).collect::<Vec<_>>(),
        [("k2", None), ("k1", Some(25))]
    );
    assert_eq!(keys[1].private_sealed, vec![2; 48]);
}
