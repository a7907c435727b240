"""Typed errors with stable codes; messages are translated at the edge (web, API, CLI).

Pure module: no Django import. Each code maps to an English message template; the web and
CLI pass it through gettext so that the user sees it in Japanese or English.
"""

from __future__ import annotations

from typing import Any


def gettext_noop(message: str) -> str:
    """Marks a msgid for the translation catalogue without importing Django."""
    return message


# Stable code -> English message template (msgid). Translations live in the locale catalogue.
MESSAGES: dict[str, str] = {
    "config.home_unwritable": gettext_noop("HIMITSU_HOME {path} cannot be created or written: {reason}"),
    "config.key_unreadable": gettext_noop("Key file {path} cannot be read: {reason}"),
    "config.smtp_invalid": gettext_noop("{setting} has an invalid value: {value}"),
    "config.gateway_invalid": gettext_noop("{setting} has an invalid value: {value}"),
    "guard.nothing_to_serve": gettext_noop(
        "Nothing to serve: set HIMITSU_AI_UPSTREAM for the AI gateway, HIMITSU_MAIL_NEXT_HOP for the mail relay, "
        "or both."),
    "config.database_url_invalid": gettext_noop("HIMITSU_DATABASE_URL is not a valid database URL: {url}"),
    "database.unavailable": gettext_noop("The database cannot be reached: {reason}"),
    "server.port_in_use": gettext_noop(
        "Port {port} of {host} is already in use: stop the program using it or choose another port with --port."),
    "server.address_unavailable": gettext_noop("The server cannot listen on {host} port {port}: {reason}"),
    "user.exists": gettext_noop("A user named {username} already exists."),
    "user.not_found": gettext_noop("No user named {username}."),
    "user.password_missing": gettext_noop("No password given: set HIMITSU_PASSWORD or type it when asked."),
    "user.password_weak": gettext_noop("The password is not acceptable: {reason}"),
    "user.invalid": gettext_noop("The user cannot be created: {reason}"),
    "training.code_taken": gettext_noop("A course with the code {course} already exists."),
    "training.audience_empty": gettext_noop("Choose at least one {what} for this course."),
    "training.before_joined": gettext_noop(
        "{person} joined on {joined}: a completion on {date} cannot be before that."),
    "training.in_future": gettext_noop("The completion date {date} is in the future."),
    "training.duplicate": gettext_noop("{person} already has a completion of {course} on {date}."),
    "training.person_left": gettext_noop("{person} has left the company: no training can be recorded for them."),
    "training.nobody": gettext_noop("Choose at least one person."),
    "training.score_invalid": gettext_noop("The score must be between 0 and 100."),
    "person.left_before_joined": gettext_noop("The leaving date is before the joining date."),
    "person.side_job_dates": gettext_noop("The end date is before the start date."),
    "hr.required": gettext_noop("{column} is required."),
    "hr.too_long": gettext_noop("{column} is longer than {limit} characters."),
    "hr.duplicate_number": gettext_noop("The employee number {number} already appears in row {row}."),
    "hr.duplicate_login": gettext_noop("The login ID {login} is also given to another person in row {row}."),
    "hr.login_taken": gettext_noop("The login ID {login} already belongs to another person ({name})."),
    "hr.invalid_login": gettext_noop(
        "The login ID {login} is not valid: use letters, digits and @ . + - _ only."),
    "hr.duplicate_email": gettext_noop("The e-mail address {email} is also given to another person in row {row}."),
    "hr.email_taken": gettext_noop("The e-mail address {email} already belongs to another person ({name})."),
    "hr.invalid_email": gettext_noop("{email} is not a valid e-mail address."),
    "hr.unknown_department": gettext_noop("Unknown department code {department}."),
    "hr.unknown_type": gettext_noop("Unknown type {value}: use 正社員, 役員, 派遣社員, 業務委託 or 取引先従業員."),
    "hr.bad_date": gettext_noop("{value} is not a date: write it as 2026-04-01, 2026/4/1 or 令和8年4月1日."),
    "hr.reactivation": gettext_noop(
        "{name} left on {left}; this row would make them active again. Nothing was changed: if they are "
        "rejoining, change the leaving date on their page."),
    "hr.sheet_missing": gettext_noop("No sheet with the HR columns was found (expected columns: {columns})."),
    "department.not_found": gettext_noop("No department with the code {department}."),
    "io.file_missing": gettext_noop("File {path} does not exist or cannot be read."),
    "io.too_large": gettext_noop("The file is {size} bytes; the limit is {limit} bytes."),
    "io.unzipped_too_large": gettext_noop(
        "The workbook unpacks to {size} bytes; the limit is {limit} bytes (a compressed-file bomb?)."),
    "io.sheet_too_large": gettext_noop("The sheet's used area spans {cells} cells; the limit is {limit}."),
    "io.binary_to_terminal": gettext_noop("An .xlsx file cannot be written to a terminal: use --output FILE."),
    "io.too_many_rows": gettext_noop("The file has more than {limit} data rows."),
    "io.unknown_format": gettext_noop("Unsupported file format: use .xlsx or .csv."),
    "io.corrupt": gettext_noop("The file cannot be read as {format}: it is damaged or not of that format."),
    "io.encoding": gettext_noop("The CSV file is neither UTF-8 nor Shift_JIS (CP932)."),
    "io.empty": gettext_noop("The file has no header row."),
    "io.sheet_missing": gettext_noop("No sheet with the register's columns was found (expected sheet: {sheet})."),
    "io.columns_missing": gettext_noop("Required columns are missing: {columns}"),
    "io.columns_unknown": gettext_noop("Unknown columns: {columns}"),
    "io.columns_duplicate": gettext_noop("Columns appear more than once: {columns}"),
    "io.invalid_rows": gettext_noop("{count} errors were found; nothing was imported."),
    "secret.level_unknown": gettext_noop("Unknown classification level {level}: use 極秘, 秘 or 社外秘."),
    "secret.invalid": gettext_noop("The register entry cannot be created: {reason}"),
    "secret.not_found": gettext_noop("No register entry with the id {id}."),
    "secret.no_text": gettext_noop("No text could be read from {path}; nothing was registered."),
    "secret.named_by_pledge": gettext_noop(
        "Register entry {number} cannot be deleted: pledges name it ({pledges}) and must keep naming it as "
        "evidence. Record that it is no longer protected (patent or secrecy) instead."),
    "document.not_found": gettext_noop("No registered document with the id {id}."),
    "scan.permission": gettext_noop("Permission denied: {detail}"),
    "scan.vanished": gettext_noop("The file disappeared before it could be read."),
    "scan.loop": gettext_noop("A symbolic link leads back into the scanned folders: not followed."),
    "scan.not_regular": gettext_noop("Not a regular file (device, pipe or socket): not read."),
    "scan.name_encoding": gettext_noop(
        "The name is not valid UTF-8 (Shift_JIS from an old file server?): shown with escaped bytes."),
    "scan.too_large": gettext_noop("The file is larger than the scan's limit of {limit} bytes: not read."),
    "scan.connection": gettext_noop("The connection to the server failed or was dropped: {detail}"),
    "scan.auth": gettext_noop("The server refused the credentials, or none were configured: {detail}"),
    "scan.not_found": gettext_noop("The scan target does not exist: {detail}"),
    "scan.io": gettext_noop("The file could not be read: {detail}"),
    "scan.timeout": gettext_noop("Reading the file took longer than the limit of {limit} seconds."),
    "scan.target_invalid": gettext_noop(
        "{target} is not a scan target: give a folder, smb://server/share/path or s3://bucket/prefix."),
    "scan.credentials_in_url": gettext_noop(
        "Do not put credentials in the target URL: set them in the environment or a credentials file."),
    "scan.running": gettext_noop("A scan of this target is already running (run {run})."),
    "scan.status_invalid": gettext_noop("Unknown status {status}: use new, confirmed, false_positive or resolved."),
    "scan.comment_required": gettext_noop("Give a comment when marking a finding false positive or resolved."),
    "scan.target_exists": gettext_noop("A scan target for {target} already exists."),
    "scan.name_invalid": gettext_noop("The name of a scan target must be 1 to 200 characters."),
    "scan.options_invalid": gettext_noop("The options of a scan target must be a JSON object of settings."),
    "scan.options_secret": gettext_noop(
        "Do not put passwords or keys in the target's options ({key}): set them in the environment or a "
        "credentials file."),
    "scan.interval_invalid": gettext_noop("The interval must be between 0 and {max} hours (0: only by hand)."),
    "scan.workers_invalid": gettext_noop("The number of worker processes must be between 1 and {max}."),
    "scan.heartbeat_lost": gettext_noop(
        "The scan stopped reporting progress for {minutes} minutes (its process ended?); the next run resumes it."),
    "scan.stopped": gettext_noop("The scan was stopped before it finished; the next run resumes it."),
    "access.denied": gettext_noop("You do not have permission for this action."),
    "internal.error": gettext_noop("Unexpected error ({kind}): {reason}. Set HIMITSU_DEBUG=1 for details."),
    "audit.broken": gettext_noop("The audit trail failed verification."),
    "grant.person_left": gettext_noop("{person} has left the company: no access can be granted to them."),
    "grant.reason_required": gettext_noop("Give the reason for the grant."),
    "grant.revoke_reason_required": gettext_noop("Give the reason for revoking the access."),
    "grant.holder_required": gettext_noop("Choose either one person or one group."),
    "grant.exists": gettext_noop("{holder} already has access to this entry."),
    "grant.expiry_in_past": gettext_noop("The expiry date must be after today."),
    "grant.revoked": gettext_noop("This grant was already revoked."),
    "grant.not_found": gettext_noop("No access grant with the id {id}."),
    "grant.review_no_reviewer": gettext_noop("The department {department} has no active department manager to "
                                             "review its access."),
    "grant.review_open": gettext_noop("The department {department} already has an open access review."),
    "grant.review_closed": gettext_noop("This access review is closed."),
    "grant.review_decided": gettext_noop("This grant was already decided in this review."),
    "grant.decision_invalid": gettext_noop("Choose confirm or revoke."),
    "grant.review_incomplete": gettext_noop("{count} grants are not decided yet: the review cannot be closed."),
    "grant.review_due_in_past": gettext_noop("The due date must not be in the past."),
    "pledge.catalog_invalid": gettext_noop("The pledge templates ({file}) are invalid: {reason}"),
    "workflow.catalog_invalid": gettext_noop("The joining and leaving steps ({file}) are invalid: {reason}"),
    "workflow.kind_unknown": gettext_noop("Unknown kind of case {kind}: use joining or leaving."),
    "workflow.case_not_found": gettext_noop("No joining or leaving case with the id {id}."),
    "workflow.step_not_found": gettext_noop("No step {step} in this case."),
    "workflow.already_open": gettext_noop("{person} already has an open {kind} case."),
    "workflow.case_closed": gettext_noop("This case is closed ({status}): nothing can be changed."),
    "workflow.step_done": gettext_noop("This step is already complete."),
    "workflow.evidence_required": gettext_noop(
        "A step is completed only with evidence: a note of at least {min} characters, a file, or the linked "
        "pledge acknowledged."),
    "workflow.pledge_not_done": gettext_noop("The linked pledge has not been acknowledged or signed yet."),
    "workflow.case_incomplete": gettext_noop("{count} steps have no evidence yet: the case cannot be completed."),
    "workflow.reason_required": gettext_noop("Give the reason for cancelling the case."),
    "workflow.file_missing": gettext_noop("The evidence file of step {id} is missing from HIMITSU_HOME."),
    "pledge.template_unknown": gettext_noop("No pledge template with the code {template}."),
    "pledge.category_unknown": gettext_noop("Unknown information category: {category}."),
    "pledge.not_found": gettext_noop("No pledge with the id {id}."),
    "pledge.value_required": gettext_noop("This template needs: {names}."),
    "pledge.person_left": gettext_noop("{person} has left the company (inactive): no pledge can be issued to them."),
    "pledge.secret_not_visible": gettext_noop(
        "A register entry named in the pledge does not exist or you do not have access to it."),
    "pledge.due_in_past": gettext_noop("The acknowledgement due date must not be in the past."),
    "pledge.expiry_before_due": gettext_noop("The pledge must not expire before its due date."),
    "pledge.duration_invalid": gettext_noop("The duration must be between 1 and {max} years."),
    "pledge.already_acknowledged": gettext_noop("This pledge was already acknowledged on {at}."),
    "pledge.revoked": gettext_noop("This pledge was revoked."),
    "pledge.expired": gettext_noop("This pledge expired on {date}."),
    "pledge.not_yours": gettext_noop("Only the person the pledge was issued to can acknowledge it."),
    "pledge.not_confirmed": gettext_noop("Tick the box to confirm that you have read the text."),
    "pledge.text_stale": gettext_noop("The text of the pledge changed after it was shown to you: read it again."),
    "pledge.text_corrupt": gettext_noop("The pledge text does not match its SHA-256: it cannot be acknowledged."),
    "pledge.upload_empty": gettext_noop("Choose the PDF of the signed pledge."),
    "pledge.upload_not_pdf": gettext_noop("The file is not a PDF (it must start with %PDF- and be readable)."),
    "pledge.file_missing": gettext_noop("The uploaded file of pledge {id} is missing from HIMITSU_HOME."),
    "pledge.pdf_unavailable": gettext_noop("The PDF cannot be produced here: {reason}"),
    "pledge.verify_failed": gettext_noop("{count} pledge acknowledgements failed verification."),
    "pledge.record_missing": gettext_noop("The pledge is marked acknowledged but has no acknowledgement record."),
    "pledge.record_edited": gettext_noop("The stored acknowledgement record or its hash was changed."),
    "pledge.text_changed": gettext_noop("The text of the pledge was changed after it was acknowledged."),
    "pledge.time_changed": gettext_noop("The time of the acknowledgement was changed."),
    "pledge.person_changed": gettext_noop("The person of the pledge was changed after it was acknowledged."),
    "pledge.secrets_changed": gettext_noop("The named register entries were changed after acknowledgement."),
    "pledge.template_changed": gettext_noop("The template or its version was changed after acknowledgement."),
    "pledge.file_changed": gettext_noop("The uploaded signed PDF was changed or replaced."),
    "guard.slug_invalid": gettext_noop("The id {slug} is not valid: use 1 to 60 letters, digits, - and _."),
    "guard.slug_taken": gettext_noop("A rule or exception with the id {slug} already exists."),
    "guard.action_unknown": gettext_noop("Unknown action {action}: use allow, warn, redact, hold or block."),
    "guard.channel_unknown": gettext_noop("Unknown channel {channel}: use ai, mail, upload or api."),
    "guard.detector_unknown": gettext_noop("Unknown detector {detector}."),
    "guard.level_unknown": gettext_noop("Unknown classification level {level}."),
    "guard.score_invalid": gettext_noop("The minimum score must be a number between 0 and 1."),
    "guard.domains_required": gettext_noop("Give at least one domain for the exception."),
    "guard.domain_invalid": gettext_noop("{domain} is not a domain name (example: partner.co.jp or *.partner.co.jp)."),
    "guard.message_too_long": gettext_noop("A message must be at most {limit} characters."),
    "guard.list_invalid": gettext_noop("{field} must be a list of names."),
    "guard.rule_invalid": gettext_noop("The rule {rule} cannot be used: {reason}"),
    "guard.rule_not_found": gettext_noop("No policy rule with the id {id}."),
    "guard.allowance_not_found": gettext_noop("No policy exception with the id {id}."),
    "guard.token_name_invalid": gettext_noop("The name of a token must be 1 to 100 characters."),
    "guard.scope_invalid": gettext_noop("Unknown or missing scope {scope}: use check or ai."),
    "guard.token_expiry_past": gettext_noop("The expiry must be in the future."),
    "guard.token_not_found": gettext_noop("No API token with the id {id}."),
    "guard.token_revoked": gettext_noop("This token was already revoked."),
    "guard.token_user_inactive": gettext_noop("{username} is not an active user: a token cannot act for them."),
    "guard.token_invalid": gettext_noop(
        "The API token is unknown, expired or revoked, or not valid for this use."),
    "guard.too_large": gettext_noop("The request is larger than the limit of {limit} bytes."),
    "request.too_large": gettext_noop("The request is larger than the limit of {limit} bytes."),
    "guard.rate_limited": gettext_noop("Too many requests: try again in {seconds} seconds."),
    "guard.content_type": gettext_noop("Send the request as application/json (UTF-8) or multipart/form-data."),
    "guard.json_invalid": gettext_noop("The request body is not a JSON object."),
    "guard.encoding": gettext_noop("The request body or its text is not valid UTF-8."),
    "guard.field_invalid": gettext_noop("The field {field} is not valid."),
    "guard.input_missing": gettext_noop(
        "Send the text, or a file (content_base64 with filename, or a multipart upload named file)."),
    "guard.input_ambiguous": gettext_noop("Send either the text or a file, not both."),
    "guard.base64_invalid": gettext_noop("content_base64 is not valid Base64."),
    "guard.quarantine_not_found": gettext_noop("No held item with the id {id}."),
    "guard.quarantine_decided": gettext_noop("This item is being released or was already released or rejected."),
    "guard.quarantine_not_mail": gettext_noop("Only held mail can be released to a mail server."),
    "guard.comment_required": gettext_noop("Give the reason for rejecting the held item."),
    "guard.delivery_failed": gettext_noop("The message could not be delivered ({reason}); it stays held."),
    "guard.quarantine_unreadable": gettext_noop(
        "The held content cannot be decrypted: the quarantine key changed or the stored data was altered."),
    "index.unusable": gettext_noop(
        "The fingerprint index in {path} cannot be used ({reason}). It was built by another version of "
        "Himitsu or with another key: move the folder away and register the documents again."),
}


class HimitsuError(Exception):
    """Base of every error Himitsu reports to a user. ``code`` is stable; ``params`` fill the text."""

    exit_code = 2

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(self.english())

    @property
    def template(self) -> str:
        return MESSAGES.get(self.code, self.code)

    def english(self) -> str:
        return self.render(self.template)

    def render(self, template: str) -> str:
        try:
            return template.format(**self.params)
        except (KeyError, IndexError):
            return template


class ConfigError(HimitsuError):
    """A setting is missing or wrong; raised before any work starts."""


class InputError(HimitsuError):
    """The user's input (file, argument, form) is not acceptable."""


class PermissionDeniedError(HimitsuError):
    """The acting user may not do this (need-to-know)."""

    def __init__(self, code: str = "access.denied", **params: Any) -> None:
        super().__init__(code, **params)
