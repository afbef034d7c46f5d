//! What an audit record is about: one kind per event the proxy audits.

use std::fmt;

/// The kind of an audit record. [`Kind::as_str`] is how it is written, to the database,
/// to `audit.jsonl` and to the log, and what people and the end-to-end tests search the
/// trail for: a string that has shipped never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A sign-in succeeded: password and TOTP, or a passkey.
    SignInOk,
    /// A sign-in failed: a wrong name, password, code or passkey.
    SignInFailed,
    /// A sign-in refused because failures locked the name.
    SignInLocked,
    /// The right factors, refused because an admin locked the user.
    SignInLockedByAdmin,
    /// Too many sign-in attempts from one address.
    SignInRateLimited,
    SignOut,
    /// A cookie that names no live web session.
    SessionInvalid,
    /// A state-changing request without the right CSRF token, or from another site.
    CsrfDenied,
    /// A signed-in person proved a factor again, to change their factors.
    AccountConfirmed,
    AccountConfirmFailed,

    /// An invite was spent: the person enrolled.
    InviteAccepted,
    /// Enrolling with password and TOTP failed (or the invite was not valid).
    InviteFailed,
    /// Enrolling with password and passkey failed.
    InviteRefused,

    PasskeyAdded,
    PasskeyRefused,
    PasskeyRemoved,

    /// An admin registered a trusted device (its enrolment link was made).
    DeviceAdded,
    /// The owner enrolled a device's credential (with what its attestation said).
    DeviceEnrolled,
    /// An enrolment was refused: the link, the attestation or the policy.
    DeviceEnrolRefused,
    /// An admin removed a trusted device (the sessions it opened end).
    DeviceRemoved,

    /// A user certificate was signed for one node and login.
    SshCertIssued,
    SshCertDenied,
    /// An SSH socket or something asked inside the session was refused: roles, locks,
    /// a missing passkey check, forwarding, a foreign origin.
    SshDenied,
    /// The passkey check before an SSH session passed (a ticket was issued).
    SshMfaOk,
    SshMfaDenied,
    /// The node could not be reached or did not prove itself.
    SshNodeFailed,
    SshStart,
    SshEnd,
    /// An SSH session ended from outside (sign-out, a lock, a role taken away…).
    SshTerminated,
    /// A file moved over SFTP in a recorded session: path, direction, size, SHA-256.
    SshFileTransfer,
    /// A change to the node's files over SFTP in a recorded session (mkdir, rename,
    /// delete…); refusals are `ssh.denied`.
    SshFileChange,
    /// Someone joined another's live session (observer or peer), or left it.
    SessionJoined,
    SessionLeft,
    /// A refused join of a live session.
    SessionJoinDenied,
    /// The owner of a live session invited people or roles to it.
    SessionInvited,
    /// A moderator ended a moderated session, or it ended with no moderator in it.
    SessionModeratorEnded,

    DesktopStart,
    DesktopEnd,
    /// A desktop session ended from outside.
    DesktopTerminated,
    DesktopDenied,
    /// The trusted-device check before a desktop session passed (a ticket was issued).
    DesktopCheckOk,
    /// The desktop could not be connected to.
    DesktopFailed,
    /// Text crossed the clipboard, one way or the other.
    DesktopClipboard,
    /// The browser sent a message the desktop session refuses.
    DesktopBadInput,

    /// Someone started watching a recording (many reads close together are one viewing).
    RecordingView,
    RecordingSearch,
    RecordingExport,
    RecordingDenied,

    /// Someone asked for a requestable role.
    AccessRequested,
    /// A request for a role was refused (not requestable by them, too long, a duplicate).
    AccessRequestRefused,
    /// One reviewer approved or denied a request.
    AccessReviewed,
    /// A review or revocation was refused: their own request, not a reviewer of the role, already decided.
    AccessReviewRefused,
    /// A request met its approvals: the role is held until it expires.
    AccessApproved,
    /// A reviewer denied a request.
    AccessDenied,
    /// A reviewer or an admin ended an approved request early.
    AccessRevoked,
    /// An approved request reached its end: the role is no longer held.
    AccessExpired,

    /// How many records of a throttled kind were counted instead of written.
    AuditSuppressed,

    /// A single sign-on left for its provider.
    SsoStarted,
    /// A single sign-on refused: the provider down or declining, a replayed or foreign
    /// callback, a token that does not verify, no role mapped…
    SsoRefused,
    /// A first single sign-on made the account.
    SsoUserCreated,
    /// A single sign-on changed the account's roles to what the provider's claims map to.
    SsoRolesChanged,

    /// A launch became an app session (the browser has the app's cookie).
    AppSessionStarted,
    /// App sessions ended with their web session (sign-out).
    AppSessionEnded,
    /// One request forwarded to an app: method, path, status (`[app_access]
    /// audit_requests`).
    AppRequest,
    /// An app refused someone: no role, a lock, a launch that was not theirs, the app
    /// down or too slow.
    AppRefused,
    /// A new key signs apps' identity assertions.
    AppKeyRotated,
}

impl Kind {
    /// The kind as written in every record.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::SignInOk => "signin.ok",
            Kind::SignInFailed => "signin.failed",
            Kind::SignInLocked => "signin.locked",
            Kind::SignInLockedByAdmin => "signin.locked_by_admin",
            Kind::SignInRateLimited => "signin.rate_limited",
            Kind::SignOut => "signout",
            Kind::SessionInvalid => "session.invalid",
            Kind::CsrfDenied => "csrf.denied",
            Kind::AccountConfirmed => "account.confirmed",
            Kind::AccountConfirmFailed => "account.confirm_failed",
            Kind::InviteAccepted => "invite.accepted",
            Kind::InviteFailed => "invite.failed",
            Kind::InviteRefused => "invite.refused",
            Kind::PasskeyAdded => "passkey.added",
            Kind::PasskeyRefused => "passkey.refused",
            Kind::PasskeyRemoved => "passkey.removed",
            Kind::DeviceAdded => "device.added",
            Kind::DeviceEnrolled => "device.enrolled",
            Kind::DeviceEnrolRefused => "device.enrol_refused",
            Kind::DeviceRemoved => "device.removed",
            Kind::SshCertIssued => "ssh.cert_issued",
            Kind::SshCertDenied => "ssh.cert_denied",
            Kind::SshDenied => "ssh.denied",
            Kind::SshMfaOk => "ssh.mfa_ok",
            Kind::SshMfaDenied => "ssh.mfa_denied",
            Kind::SshNodeFailed => "ssh.node_failed",
            Kind::SshStart => "ssh.start",
            Kind::SshEnd => "ssh.end",
            Kind::SshTerminated => "ssh.terminated",
            Kind::SshFileTransfer => "ssh.file_transfer",
            Kind::SshFileChange => "ssh.file_change",
            Kind::SessionJoined => "session.joined",
            Kind::SessionLeft => "session.left",
            Kind::SessionJoinDenied => "session.join_denied",
            Kind::SessionInvited => "session.invited",
            Kind::SessionModeratorEnded => "session.moderator_ended",
            Kind::DesktopStart => "desktop.start",
            Kind::DesktopEnd => "desktop.end",
            Kind::DesktopTerminated => "desktop.terminated",
            Kind::DesktopDenied => "desktop.denied",
            Kind::DesktopCheckOk => "desktop.check_ok",
            Kind::DesktopFailed => "desktop.failed",
            Kind::DesktopClipboard => "desktop.clipboard",
            Kind::DesktopBadInput => "desktop.bad_input",
            Kind::RecordingView => "recording.view",
            Kind::RecordingSearch => "recording.search",
            Kind::RecordingExport => "recording.export",
            Kind::RecordingDenied => "recording.denied",
            Kind::AccessRequested => "access.requested",
            Kind::AccessRequestRefused => "access.request_refused",
            Kind::AccessReviewed => "access.reviewed",
            Kind::AccessReviewRefused => "access.review_refused",
            Kind::AccessApproved => "access.approved",
            Kind::AccessDenied => "access.denied",
            Kind::AccessRevoked => "access.revoked",
            Kind::AccessExpired => "access.expired",
            Kind::AuditSuppressed => "audit.suppressed",
            Kind::SsoStarted => "sso.started",
            Kind::SsoRefused => "sso.refused",
            Kind::SsoUserCreated => "sso.user_created",
            Kind::SsoRolesChanged => "sso.roles_changed",
            Kind::AppSessionStarted => "app.session_started",
            Kind::AppSessionEnded => "app.session_ended",
            Kind::AppRequest => "app.request",
            Kind::AppRefused => "app.refused",
            Kind::AppKeyRotated => "app.key_rotated",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the trail has always said, kind by kind: readers and the end-to-end tests
    /// search for these.
    const WRITTEN: [(Kind, &str); 66] = [
        (Kind::SignInOk, "signin.ok"),
        (Kind::SignInFailed, "signin.failed"),
        (Kind::SignInLocked, "signin.locked"),
        (Kind::SignInLockedByAdmin, "signin.locked_by_admin"),
        (Kind::SignInRateLimited, "signin.rate_limited"),
        (Kind::SignOut, "signout"),
        (Kind::SessionInvalid, "session.invalid"),
        (Kind::CsrfDenied, "csrf.denied"),
        (Kind::AccountConfirmed, "account.confirmed"),
        (Kind::AccountConfirmFailed, "account.confirm_failed"),
        (Kind::InviteAccepted, "invite.accepted"),
        (Kind::InviteFailed, "invite.failed"),
        (Kind::InviteRefused, "invite.refused"),
        (Kind::PasskeyAdded, "passkey.added"),
        (Kind::PasskeyRefused, "passkey.refused"),
        (Kind::PasskeyRemoved, "passkey.removed"),
        (Kind::DeviceAdded, "device.added"),
        (Kind::DeviceEnrolled, "device.enrolled"),
        (Kind::DeviceEnrolRefused, "device.enrol_refused"),
        (Kind::DeviceRemoved, "device.removed"),
        (Kind::SshCertIssued, "ssh.cert_issued"),
        (Kind::SshCertDenied, "ssh.cert_denied"),
        (Kind::SshDenied, "ssh.denied"),
        (Kind::SshMfaOk, "ssh.mfa_ok"),
        (Kind::SshMfaDenied, "ssh.mfa_denied"),
        (Kind::SshNodeFailed, "ssh.node_failed"),
        (Kind::SshStart, "ssh.start"),
        (Kind::SshEnd, "ssh.end"),
        (Kind::SshTerminated, "ssh.terminated"),
        (Kind::SshFileTransfer, "ssh.file_transfer"),
        (Kind::SshFileChange, "ssh.file_change"),
        (Kind::SessionJoined, "session.joined"),
        (Kind::SessionLeft, "session.left"),
        (Kind::SessionJoinDenied, "session.join_denied"),
        (Kind::SessionInvited, "session.invited"),
        (Kind::SessionModeratorEnded, "session.moderator_ended"),
        (Kind::DesktopStart, "desktop.start"),
        (Kind::DesktopEnd, "desktop.end"),
        (Kind::DesktopTerminated, "desktop.terminated"),
        (Kind::DesktopDenied, "desktop.denied"),
        (Kind::DesktopCheckOk, "desktop.check_ok"),
        (Kind::DesktopFailed, "desktop.failed"),
        (Kind::DesktopClipboard, "desktop.clipboard"),
        (Kind::DesktopBadInput, "desktop.bad_input"),
        (Kind::RecordingView, "recording.view"),
        (Kind::RecordingSearch, "recording.search"),
        (Kind::RecordingExport, "recording.export"),
        (Kind::RecordingDenied, "recording.denied"),
        (Kind::AccessRequested, "access.requested"),
        (Kind::AccessRequestRefused, "access.request_refused"),
        (Kind::AccessReviewed, "access.reviewed"),
        (Kind::AccessReviewRefused, "access.review_refused"),
        (Kind::AccessApproved, "access.approved"),
        (Kind::AccessDenied, "access.denied"),
        (Kind::AccessRevoked, "access.revoked"),
        (Kind::AccessExpired, "access.expired"),
        (Kind::AuditSuppressed, "audit.suppressed"),
        (Kind::SsoStarted, "sso.started"),
        (Kind::SsoRefused, "sso.refused"),
        (Kind::SsoUserCreated, "sso.user_created"),
        (Kind::SsoRolesChanged, "sso.roles_changed"),
        (Kind::AppSessionStarted, "app.session_started"),
        (Kind::AppSessionEnded, "app.session_ended"),
        (Kind::AppRequest, "app.request"),
        (Kind::AppRefused, "app.refused"),
        (Kind::AppKeyRotated, "app.key_rotated"),
    ];

    #[test]
    fn every_kind_is_written_as_it_always_was() {
        for (kind, written) in WRITTEN {
            assert_eq!(kind.as_str(), written, "{kind:?}");
            assert_eq!(kind.to_string(), written);
        }
    }

    #[test]
    fn no_two_kinds_are_written_alike() {
        let mut written: Vec<&str> = WRITTEN.iter().map(|(kind, _)| kind.as_str()).collect();
        written.sort_unstable();
        written.dedup();
        assert_eq!(written.len(), WRITTEN.len());
    }
}
