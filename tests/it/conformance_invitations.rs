//! Store conformance, invitations: an invited person, their link and its message are written
//! together or not at all (the address rule refusing); a link is used once, only in time, and
//! only while the person is still invited and enabled; a renewal spends the earlier links and
//! writes nothing for someone no longer invited; retention deletes expired links.

use deskward::domain::time::{DAY, HOUR};
use deskward::store::{NewInvitation, NewMail, PasswordLink, Retained, StoreError};

use crate::conformance::{Db, T0, add, admin, agent, make_account, open};
use crate::db::Backend;

backend_tests!(
    an_invitation_writes_person_link_and_message_together_or_nothing,
    a_link_is_used_once_in_time_while_invited,
    a_renewal_spends_earlier_links,
);

fn invitation(account: &str, mail_id: &str, to: &str, hash: &str, now: i64) -> NewInvitation {
    NewInvitation {
        token_hash: hash.to_string(),
        expires_at: now + 7 * DAY,
        mail: NewMail {
            id: mail_id.to_string(),
            account_id: account.to_string(),
            kind: "invitation".to_string(),
            recipient_norm: to.to_lowercase(),
            recipient: to.to_string(),
            recipient_name: "Ann Agent".to_string(),
            subject: "You are invited".to_string(),
            text_body: format!("text of {mail_id}"),
            html_body: format!("<p>html of {mail_id}</p>"),
        },
        now,
    }
}

async fn invite(store: &Db, id: &str, email: &str, hash: &str) {
    let m = agent("ac1", id, "Ann", email);
    let i = invitation("ac1", &format!("mail-{id}"), email, hash, T0);
    let added = store
        .insert_invited_member(&m, &|_| false, &i)
        .await
        .expect("invite");
    assert!(added.invited);
}

async fn an_invitation_writes_person_link_and_message_together_or_nothing(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    invite(&store, "ag-ann", "ann@acme.example", "h-ann").await;
    let mail = store.mail_to("ac1", "ann@acme.example").await.unwrap();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].kind, "invitation");
    assert_eq!(
        store
            .password_link_holder(PasswordLink::Invitation, "ac1", "h-ann", T0)
            .await
            .unwrap(),
        Some("ag-ann".to_string())
    );
    // Refused by the address rule: no person, no link, no message.
    add(&store, admin("ac1", "ad-bo", "Bo", "bo@acme.example")).await;
    let m = agent("ac1", "ag-bo", "Bo", "bo@acme.example");
    let i = invitation("ac1", "mail-bo", "bo@acme.example", "h-bo", T0);
    let refused = store.insert_invited_member(&m, &|_| true, &i).await;
    assert!(
        matches!(refused, Err(StoreError::AddressRefused)),
        "{refused:?}"
    );
    // A taken address: the same, nothing behind.
    let dup = agent("ac1", "ag-ann2", "Ann Again", "ANN@acme.example");
    let i = invitation("ac1", "mail-ann2", "ann@acme.example", "h-ann2", T0);
    assert!(
        store
            .insert_invited_member(&dup, &|_| false, &i)
            .await
            .is_err()
    );
    assert!(
        store
            .mail_to("ac1", "bo@acme.example")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .mail_to("ac1", "ann@acme.example")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .password_link_holder(PasswordLink::Invitation, "ac1", "h-bo", T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .password_link_holder(PasswordLink::Invitation, "ac1", "h-ann2", T0)
            .await
            .unwrap(),
        None
    );
    assert!(store.member("ac1", "ag-bo").await.is_err());
}

async fn a_link_is_used_once_in_time_while_invited(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "globex").await;
    invite(&store, "ag-cy", "cy@acme.example", "h-cy").await;
    // Another account's token finds nothing; an expired one neither.
    assert_eq!(
        store
            .set_password_with_link(PasswordLink::Invitation, "ac2", "h-cy", "hash", T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .set_password_with_link(
                PasswordLink::Invitation,
                "ac1",
                "h-cy",
                "hash",
                T0 + 7 * DAY
            )
            .await
            .unwrap(),
        None
    );
    let (a, b) = tokio::join!(
        store.set_password_with_link(PasswordLink::Invitation, "ac1", "h-cy", "hash-a", T0 + HOUR),
        store.set_password_with_link(PasswordLink::Invitation, "ac1", "h-cy", "hash-b", T0 + HOUR),
    );
    let won: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(won.len(), 1, "exactly one acceptance");
    assert_eq!(won[0].member_id, "ag-cy");
    let m = store.member("ac1", "ag-cy").await.unwrap();
    assert!(!m.invited);
    let hash = store.password_hash("ac1", "ag-cy").await.unwrap();
    assert!(hash == "hash-a" || hash == "hash-b", "{hash}");
    assert_eq!(
        store
            .password_link_holder(PasswordLink::Invitation, "ac1", "h-cy", T0 + HOUR)
            .await
            .unwrap(),
        None
    );

    // A disabled person's link does nothing, and stays as it was.
    invite(&store, "ag-di", "di@acme.example", "h-di").await;
    store
        .update_member(
            "ac1",
            "ag-di",
            &deskward::store::MemberPatch {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .set_password_with_link(PasswordLink::Invitation, "ac1", "h-di", "hash", T0)
            .await
            .unwrap(),
        None
    );
    assert!(store.member("ac1", "ag-di").await.unwrap().invited);
}

async fn a_renewal_spends_earlier_links(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    invite(&store, "ag-ed", "ed@acme.example", "h-1").await;
    let again = invitation("ac1", "mail-2", "ed@acme.example", "h-2", T0 + HOUR);
    assert!(
        store
            .renew_invitation("ac1", "ag-ed", &again)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .password_link_holder(PasswordLink::Invitation, "ac1", "h-1", T0 + HOUR)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .password_link_holder(PasswordLink::Invitation, "ac1", "h-2", T0 + HOUR)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.mail_to("ac1", "ed@acme.example").await.unwrap().len(),
        2
    );
    store
        .set_password_with_link(PasswordLink::Invitation, "ac1", "h-2", "hash", T0 + HOUR)
        .await
        .unwrap()
        .expect("accepted");
    // No longer invited: nothing written.
    let late = invitation("ac1", "mail-3", "ed@acme.example", "h-3", T0 + 2 * HOUR);
    assert!(!store.renew_invitation("ac1", "ag-ed", &late).await.unwrap());
    assert_eq!(
        store.mail_to("ac1", "ed@acme.example").await.unwrap().len(),
        2
    );
    // Retention: links expired before the cut-off go.
    assert_eq!(
        store
            .delete_older(Retained::InvitationLinks, T0 + 8 * DAY, 10)
            .await
            .unwrap(),
        2
    );
}
