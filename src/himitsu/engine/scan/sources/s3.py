"""S3-compatible buckets (AWS S3, MinIO, SeaweedFS, Ceph RGW, Wasabi...): ``s3://bucket/optional/prefix``.

URL. ``s3://bucket`` scans the whole bucket; ``s3://bucket/開発部`` (or ``s3://bucket/開発部/``) scans the
keys under the "folder" ``開発部/`` and, if it exists, the object whose key is exactly ``開発部`` (so the URL
of a single object scans that object). The part after the bucket is percent-decoded as UTF-8, like the SMB
source (write ``%25`` for a literal ``%``); a URL without a bucket is refused with ``scan.not_found`` and one
with ``user@`` or ``user:secret@`` with ``scan.auth``: credentials never belong in the URL. A non-empty prefix
under which there is no key at all (not even a folder marker) is ``scan.not_found``; an empty bucket is not.

Settings, each from the first place that provides it:

- endpoint: option ``endpoint_url``, else ``HIMITSU_S3_ENDPOINT_URL``, else boto3's own
  (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, the profile's ``endpoint_url``), else AWS;
- region: option ``region``, else ``HIMITSU_S3_REGION``, else boto3's own (``AWS_REGION``,
  ``AWS_DEFAULT_REGION``, the profile's ``region``), else ``us-east-1``;
- credentials (access key + secret key, never mixed from two places):

  1. options ``access_key`` and ``secret_key`` (and optional ``session_token``), both or neither;
  2. options ``credentials_file`` (an AWS shared-credentials INI file) and/or ``profile``: the named profile
     (``profile`` option, else ``AWS_PROFILE``, else ``default``) of that file (or of the usual AWS files);
     the ``AWS_ACCESS_KEY_ID`` environment variables are then ignored, as boto3 does for an explicit profile;
  3. ``HIMITSU_S3_ACCESS_KEY`` with ``HIMITSU_S3_SECRET_KEY_FILE`` (a file holding the secret key; its first
     line, surrounding white space removed), both or neither;
  4. boto3's standard chain: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (/ ``AWS_SESSION_TOKEN``),
     then the ``AWS_PROFILE`` profile (or ``default``) of ``AWS_SHARED_CREDENTIALS_FILE`` (``~/.aws/credentials``)
     and ``AWS_CONFIG_FILE``, then container / instance roles.

  Missing, unreadable or refused credentials are ``scan.auth``.

Other options: ``page_size`` (keys per listing request, default 1000, the S3 maximum), ``object_acl`` (bool,
default True: see Exposure), ``connect_timeout`` (seconds, default 5), ``read_timeout`` (seconds, default 30),
``max_attempts`` (requests tried at most this often, default 2, so a dead server fails within seconds),
``addressing_style`` (``path``, ``virtual`` or ``auto``; default ``path`` when an endpoint is set, which
S3-compatible servers expect, else ``auto``).

Walk: ``ListObjectsV2`` under the prefix, page by page, in S3's order (keys in UTF-8 byte order, which is
Unicode code point order: stable). Entries are ``s3://bucket/key`` with the real (Unicode) key, the size, the
LastModified time, the ETag without its quotes; ``extra["key"]`` holds the key. "Folder markers" (keys ending in
``/`` with size 0) are not files and are skipped. A missing bucket raises ``scan.not_found``, refused
credentials ``scan.auth``, a refused listing ``scan.permission``, an unreachable server ``scan.connection``
(all :class:`ScanIOError`, from the first request); a listing that fails after some pages is one
:class:`WalkError` for the prefix and the walk ends there (S3 cannot skip a page it could not list).

Exposure (AWS semantics; no exposure is ever claimed from a request that failed):

- ``s3.public_bucket``: the bucket ACL grants READ or FULL_CONTROL to the AllUsers or AuthenticatedUsers group
  (anyone, or anyone with any AWS account, may list the bucket: the key names are public and, on servers that
  apply bucket ACLs to objects, their content), or the bucket policy has an ``Allow`` statement for everyone
  (``Principal: "*"`` or ``{"AWS": "*"}``) granting ``s3:GetObject`` on a resource pattern matching the key, or
  ``s3:ListBucket`` on the bucket, and no ``Deny`` for everyone of ``s3:GetObject`` on that key. Statements
  with a ``Condition`` count only if all its keys are ones that do not restrict who may read
  (``aws:SecureTransport``, ``aws:Referer``, ``aws:UserAgent``): an IP, VPC or account condition is a
  restriction. If the policy itself cannot be read but ``GetBucketPolicyStatus`` says ``IsPublic``, every key
  is public. The bucket's Block Public Access settings are honoured (``IgnorePublicAcls`` disables the ACL
  checks, ``RestrictPublicBuckets`` the policy checks); account-level settings (S3 Control API) are not read.
  These are one to four requests per walk.
- ``s3.public_object``: the object ACL grants READ or FULL_CONTROL to AllUsers or AuthenticatedUsers. This is one
  ``GetObjectAcl`` request per object (checked only when the bucket is not already public): on buckets with
  millions of objects set the option ``object_acl`` to False (buckets with "Object Ownership: bucket owner
  enforced", the AWS default since 2023, have ACLs disabled anyway). If the server refuses or does not
  implement GetObjectAcl (AccessDenied, NotImplemented...), the exposure is "" and object ACLs are not asked
  again during that walk.

Read: ``GetObject`` with ``Range: bytes=0-limit``, so never more than ``limit + 1`` bytes are transferred; an
object longer than ``limit`` (from Content-Range, or the bytes received) is ``scan.too_large``. A key gone since
the walk (or its bucket) is ``scan.vanished``, a refused read ``scan.permission``, refused credentials
``scan.auth``, a refused, dropped or timed-out connection ``scan.connection``, anything else ``scan.io``. An
object changed since the walk (other ETag) is read as it is now; the change is only logged.

The boto3 client is created lazily, per source and per process (a source pickled or forked into a worker
creates its own there, reading that process's environment); :meth:`S3Source.close` releases it.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from himitsu.engine.scan.sources.base import Entry, ScanIOError, Source, SourceSpec, WalkError

log = logging.getLogger(__name__)

ENV_ENDPOINT_URL = "HIMITSU_S3_ENDPOINT_URL"
ENV_REGION = "HIMITSU_S3_REGION"
ENV_ACCESS_KEY = "HIMITSU_S3_ACCESS_KEY"
ENV_SECRET_KEY_FILE = "HIMITSU_S3_SECRET_KEY_FILE"

DEFAULT_REGION = "us-east-1"
DEFAULT_PAGE_SIZE = 1000
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_ATTEMPTS = 2

PUBLIC_BUCKET = "s3.public_bucket"
PUBLIC_OBJECT = "s3.public_object"

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_PUBLIC_GROUPS = {ALL_USERS, AUTHENTICATED_USERS}
_READ_PERMISSIONS = {"READ", "FULL_CONTROL"}
#: condition keys that do not narrow down who may read (anyone can meet them)
_HARMLESS_CONDITION_KEYS = {"aws:securetransport", "aws:referer", "aws:useragent"}

_AUTH_CODES = {
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
    "InvalidSecurity", "AuthorizationHeaderMalformed", "MissingSecurityHeader", "InvalidClientTokenId",
    "UnrecognizedClientException", "AccountProblem", "CredentialsNotSupported", "InvalidPayer",
}
_PERMISSION_CODES = {"AccessDenied", "AllAccessDisabled", "Forbidden"}
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "NotFound", "NoSuchVersion", "404"}
#: answers meaning "this server will not tell us" (ACL / policy queries): exposure ""
_UNSUPPORTED_CODES = {"NotImplemented", "MethodNotAllowed", "XNotImplemented", "InvalidRequest",
                      "UnsupportedOperation", "AccessControlListNotSupported"}


# --- URL -------------------------------------------------------------------------------------------------------

def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``; the prefix percent-decoded, credentials refused."""
    head, sep, rest = url.partition("://")
    if not sep or head.lower() != "s3":
        raise ScanIOError("scan.not_found", "not an s3:// URL")
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket:
        raise ScanIOError("scan.auth", "credentials must not be in the URL: use the source options "
                          f"(credentials_file, profile), {ENV_ACCESS_KEY} with {ENV_SECRET_KEY_FILE}, or the "
                          "standard AWS environment variables / shared credentials file")
    if not bucket or not re.fullmatch(r"[A-Za-z0-9._-]{1,255}", bucket):
        raise ScanIOError("scan.not_found", f"expected s3://bucket[/prefix], got {url!r}")
    try:
        prefix = unquote(prefix, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ScanIOError("scan.not_found", f"the prefix of {url!r} is not valid percent-encoded UTF-8") from None
    return bucket, prefix


# --- policies --------------------------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """IAM / ARN wildcards: ``*`` any run of characters (``/`` included), ``?`` one character."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return "*" in _listed(principal.get("AWS"))
    return False


def _acts(statement: dict[str, Any], action: str) -> bool:
    """Does the statement's Action (or NotAction) cover ``action`` (lower case)?"""
    if "Action" in statement:
        return any(_wildcard(str(a).lower()).fullmatch(action) for a in _listed(statement["Action"]))
    if "NotAction" in statement:
        return not any(_wildcard(str(a).lower()).fullmatch(action) for a in _listed(statement["NotAction"]))
    return False


def _unconditional(statement: dict[str, Any]) -> bool:
    conditions = statement.get("Condition") or {}
    if not isinstance(conditions, dict):
        return False
    keys = {str(k).lower() for block in conditions.values() if isinstance(block, dict) for k in block}
    return keys <= _HARMLESS_CONDITION_KEYS and all(isinstance(b, dict) for b in conditions.values())


@dataclass
class PolicyAccess:
    """What a bucket policy opens to everyone: object patterns (keys, wildcards) and whether listing is open."""

    get_allowed: list[str] = field(default_factory=list)
    get_denied: list[str] = field(default_factory=list)
    list_allowed: bool = False

    def public(self, key: str) -> bool:
        if any(_wildcard(p).fullmatch(key) for p in self.get_denied):
            return False
        return self.list_allowed or any(_wildcard(p).fullmatch(key) for p in self.get_allowed)


def policy_access(policy: str | dict[str, Any], bucket: str) -> PolicyAccess:
    """Parse a bucket policy (JSON): the statements that apply to everyone, for this bucket's objects."""
    doc = json.loads(policy) if isinstance(policy, str) else policy
    access = PolicyAccess()
    for statement in _listed(doc.get("Statement") if isinstance(doc, dict) else None):
        if not isinstance(statement, dict) or not _everyone(statement.get("Principal")):
            continue
        effect = str(statement.get("Effect", "")).lower()
        resources = [str(r) for r in _listed(statement.get("Resource"))]
        object_patterns, bucket_level = [], False
        for resource in resources:
            if resource == "*":
                object_patterns.append("*")
                bucket_level = True
                continue
            arn = re.fullmatch(r"arn:[^:]*:s3:::(.*)", resource, re.DOTALL)
            if not arn:
                continue
            target = arn.group(1)
            bucket_part, slash, key_part = target.partition("/")
            if not _wildcard(bucket_part).fullmatch(bucket):
                continue
            if slash:
                object_patterns.append(key_part)
            else:
                bucket_level = True
        if effect == "allow" and _unconditional(statement):
            if _acts(statement, "s3:getobject"):
                access.get_allowed.extend(object_patterns)
            if bucket_level and _acts(statement, "s3:listbucket"):
                access.list_allowed = True
        elif effect == "deny" and _unconditional(statement) and _acts(statement, "s3:getobject"):
            access.get_denied.extend(object_patterns)
    return access


def _acl_public(grants: list[dict[str, Any]]) -> bool:
    for grant in grants or ():
        grantee = grant.get("Grantee") or {}
        if grantee.get("Type") == "Group" and grantee.get("URI") in _PUBLIC_GROUPS \
                and grant.get("Permission") in _READ_PERMISSIONS:
            return True
    return False


# --- errors ----------------------------------------------------------------------------------------------------

def _error_code(exc: BaseException) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str((response.get("Error") or {}).get("Code") or "")
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    return code, status


def _scan_error(exc: BaseException, missing: str) -> ScanIOError:
    """The stable code for a boto3 / botocore / network failure; ``missing`` is the code for "not there"."""
    from botocore import exceptions as bx
    from urllib3 import exceptions as ux

    if isinstance(exc, ScanIOError):
        return exc
    if isinstance(exc, bx.ClientError):
        code, status = _error_code(exc)
        message = (exc.response.get("Error") or {}).get("Message") or ""
        detail = f"{code or status}: {message}".strip(": ")
        if code in _AUTH_CODES:
            return ScanIOError("scan.auth", detail)
        if code in _PERMISSION_CODES or status == 403:
            return ScanIOError("scan.permission", detail)
        if code in _MISSING_CODES or status == 404:
            return ScanIOError(missing, detail)
        return ScanIOError("scan.io", detail)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.ProfileNotFound
                  | bx.CredentialRetrievalError | bx.ConfigNotFound):
        return ScanIOError("scan.auth", str(exc))
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError | bx.IncompleteReadError | ux.HTTPError
                  | http.client.HTTPException | ConnectionError | TimeoutError):
        return ScanIOError("scan.connection", str(exc) or type(exc).__name__)
    if isinstance(exc, bx.BotoCoreError | OSError):
        return ScanIOError("scan.io", str(exc) or type(exc).__name__)
    return ScanIOError("scan.io", f"{type(exc).__name__}: {exc}")


def _is_missing_policy(exc: BaseException) -> bool:
    code, _ = _error_code(exc)
    return code in {"NoSuchBucketPolicy", "NoSuchPublicAccessBlockConfiguration"}


# --- the source ------------------------------------------------------------------------------------------------

class S3Source(Source):
    """An S3-compatible bucket, or the keys under a prefix of it (see the module docstring)."""

    scheme = "s3"

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self.bucket, raw = parse_url(spec.url)
        #: the folder prefix listed ("" for the whole bucket) and the single key also looked for ("" if none)
        self.prefix = raw if raw == "" or raw.endswith("/") else raw + "/"
        self.exact_key = "" if raw == "" or raw.endswith("/") else raw
        options = spec.options
        self.page_size = max(1, min(1000, int(options.get("page_size") or DEFAULT_PAGE_SIZE)))
        self.object_acl = bool(options.get("object_acl", True))
        self._client: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    # pickling a source (rather than its spec) must not carry a client or a lock into another process
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"], state["_pid"], state["_lock"] = None, 0, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # --- client ---

    def client(self) -> Any:
        """This process's boto3 S3 client (created on first use; raises :class:`ScanIOError`)."""
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = self._make_client()
                self._pid = os.getpid()
            return self._client

    def _make_client(self) -> Any:
        import boto3
        import botocore.session
        from botocore.config import Config

        options = self.spec.options
        env = os.environ
        endpoint = options.get("endpoint_url") or env.get(ENV_ENDPOINT_URL) or None
        region = options.get("region") or env.get(ENV_REGION) or None
        core = botocore.session.get_session()
        keys: dict[str, Any] = {}
        access, secret = options.get("access_key"), options.get("secret_key")
        if access or secret:
            if not (access and secret):
                raise ScanIOError("scan.auth", "the options access_key and secret_key go together")
            keys = {"aws_access_key_id": access, "aws_secret_access_key": secret,
                    "aws_session_token": options.get("session_token") or None}
        elif options.get("credentials_file") or options.get("profile"):
            path = options.get("credentials_file")
            if path:
                if not Path(path).is_file():
                    raise ScanIOError("scan.auth", f"S3 credentials file not found: {str(path)!r}")
                core.set_config_variable("credentials_file", str(path))
            # an explicit profile: boto3 then ignores the AWS_ACCESS_KEY_ID environment variables
            core.set_config_variable("profile", options.get("profile") or env.get("AWS_PROFILE") or "default")
        elif env.get(ENV_ACCESS_KEY) or env.get(ENV_SECRET_KEY_FILE):
            if not (env.get(ENV_ACCESS_KEY) and env.get(ENV_SECRET_KEY_FILE)):
                raise ScanIOError("scan.auth", f"{ENV_ACCESS_KEY} and {ENV_SECRET_KEY_FILE} go together")
            try:
                lines = Path(env[ENV_SECRET_KEY_FILE]).read_text(encoding="utf-8").strip().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ScanIOError("scan.auth", f"cannot read {ENV_SECRET_KEY_FILE} {env[ENV_SECRET_KEY_FILE]!r}: "
                                  f"{getattr(exc, 'strerror', None) or exc}") from None
            if not lines or not lines[0].strip():
                raise ScanIOError("scan.auth", f"{ENV_SECRET_KEY_FILE} {env[ENV_SECRET_KEY_FILE]!r} is empty")
            keys = {"aws_access_key_id": env[ENV_ACCESS_KEY], "aws_secret_access_key": lines[0].strip()}
        style = options.get("addressing_style") or ("path" if endpoint else "auto")
        config = Config(
            connect_timeout=float(options.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT),
            read_timeout=float(options.get("read_timeout") or DEFAULT_READ_TIMEOUT),
            retries={"max_attempts": max(1, int(options.get("max_attempts") or DEFAULT_MAX_ATTEMPTS)),
                     "mode": "standard"},
            s3={"addressing_style": style},
            # S3-compatible servers differ in their support of the newer checksum headers: only when required
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        try:
            session = boto3.session.Session(botocore_session=core)
            region = region or session.region_name or DEFAULT_REGION
            return session.client("s3", endpoint_url=endpoint, region_name=region, config=config, **keys)
        except Exception as exc:  # profile not found, malformed endpoint...
            if isinstance(exc, ValueError):  # botocore: "Invalid endpoint"
                raise ScanIOError("scan.connection", str(exc)) from exc
            raise _scan_error(exc, "scan.not_found") from exc

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            try:
                client.close()
            except Exception:  # closing is best effort
                log.debug("closing the S3 client failed", exc_info=True)

    # --- walk ---

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def walk(self) -> Iterator[Entry | WalkError]:
        client = self.client()
        found = False
        exposure: _Exposure | None = None
        if self.exact_key:
            try:
                page = client.list_objects_v2(Bucket=self.bucket, Prefix=self.exact_key, MaxKeys=1)
            except Exception as exc:
                raise _scan_error(exc, "scan.not_found") from exc
            first = (page.get("Contents") or [None])[0]
            if first is not None and first["Key"] == self.exact_key:
                found = True
                exposure = _Exposure.of(self, client)
                yield self._entry(first, exposure, client)
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, PaginationConfig={"PageSize": self.page_size})
        iterator = iter(pages)
        number = 0
        while True:
            try:
                page = next(iterator)
            except StopIteration:
                break
            except Exception as exc:
                error = _scan_error(exc, "scan.not_found")
                if number == 0 and not found:
                    raise error from exc
                yield WalkError(self._url(self.prefix), error.code, f"listing stopped after {number} page(s): "
                                                                    f"{error.detail}")
                return
            number += 1
            for item in page.get("Contents") or ():
                found = True
                key = item["Key"]
                if key.endswith("/") and not item.get("Size"):
                    continue  # a folder marker
                if exposure is None:
                    exposure = _Exposure.of(self, client)
                yield self._entry(item, exposure, client)
        if not found and self.prefix:
            raise ScanIOError("scan.not_found", f"no object under {self._url(self.prefix)}")

    def _entry(self, item: dict[str, Any], exposure: _Exposure, client: Any) -> Entry:
        key = item["Key"]
        modified = item.get("LastModified")
        return Entry(path=self._url(key), size=int(item.get("Size") or 0),
                     mtime=modified.timestamp() if modified is not None else 0.0,
                     etag=str(item.get("ETag") or "").strip('"'), exposure=exposure.of_key(key, client),
                     extra={"key": key})

    # --- read ---

    def _key_of(self, entry: Entry) -> str:
        key = entry.extra.get("key") if entry.extra else None
        if isinstance(key, str):
            return key
        head = f"s3://{self.bucket}/"
        if not entry.path.startswith(head):
            raise ScanIOError("scan.not_found", f"{entry.path!r} is not in the bucket {self.bucket!r}")
        return entry.path[len(head):]

    def read(self, entry: Entry, limit: int) -> bytes:
        key = self._key_of(entry)
        limit = max(0, int(limit))
        try:
            client = self.client()
            try:
                response = client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit}")
            except Exception as exc:
                if _error_code(exc)[0] != "InvalidRange":
                    raise
                # an empty object has no byte 0: read it whole (the same limit applies)
                response = client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            try:
                total = _total_size(response)
                if total is not None and total > limit:
                    raise ScanIOError("scan.too_large", f"{total} bytes > limit {limit}")
                data = body.read(limit + 1)
            finally:
                body.close()
        except ScanIOError:
            raise
        except Exception as exc:  # mapped to a stable code
            raise _scan_error(exc, "scan.vanished") from exc
        if len(data) > limit:
            raise ScanIOError("scan.too_large", f"more than {limit} bytes")
        etag = str(response.get("ETag") or "").strip('"')
        if entry.etag and etag and etag != entry.etag:
            log.info("%s changed since the walk (ETag %s, now %s): reading the current version",
                     entry.path, entry.etag, etag)
        return data


def _total_size(response: dict[str, Any]) -> int | None:
    """The object's full size: from Content-Range (``bytes 0-9/1234``) or, for a whole-object answer, its length."""
    content_range = response.get("ContentRange") or ""
    match = re.fullmatch(r"\s*bytes\s+\d+-\d+/(\d+)\s*", content_range)
    if match:
        return int(match.group(1))
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if status == 200 and response.get("ContentLength") is not None:
        return int(response["ContentLength"])
    return None


@dataclass
class _Exposure:
    """Bucket-level public access, read once per walk, and the per-object ACL check."""

    source: S3Source
    acl_public: bool = False
    policy: PolicyAccess | None = None
    policy_public: bool = False      # GetBucketPolicyStatus said IsPublic (the policy itself unreadable)
    ignore_acls: bool = False        # Block Public Access: IgnorePublicAcls
    object_acl: bool = True          # still asking object ACLs in this walk

    @classmethod
    def of(cls, source: S3Source, client: Any) -> _Exposure:
        bucket = source.bucket
        found = cls(source=source, object_acl=source.object_acl)
        restrict_policy = False
        try:
            block = client.get_public_access_block(Bucket=bucket).get("PublicAccessBlockConfiguration") or {}
            found.ignore_acls = bool(block.get("IgnorePublicAcls"))
            restrict_policy = bool(block.get("RestrictPublicBuckets"))
        except Exception as exc:  # none set, not supported or not allowed: no block known
            _note("GetPublicAccessBlock", bucket, exc)
        if not found.ignore_acls:
            try:
                found.acl_public = _acl_public(client.get_bucket_acl(Bucket=bucket).get("Grants") or [])
            except Exception as exc:
                _note("GetBucketAcl", bucket, exc)
        else:
            found.object_acl = False
        if not restrict_policy:
            try:
                found.policy = policy_access(client.get_bucket_policy(Bucket=bucket).get("Policy") or "{}", bucket)
            except Exception as exc:
                _note("GetBucketPolicy", bucket, exc)
                if not _is_missing_policy(exc):
                    try:
                        status = client.get_bucket_policy_status(Bucket=bucket).get("PolicyStatus") or {}
                        found.policy_public = bool(status.get("IsPublic"))
                    except Exception as exc2:
                        _note("GetBucketPolicyStatus", bucket, exc2)
        return found

    def of_key(self, key: str, client: Any) -> str:
        if self.acl_public or self.policy_public or (self.policy is not None and self.policy.public(key)):
            return PUBLIC_BUCKET
        if not self.object_acl:
            return ""
        try:
            grants = client.get_object_acl(Bucket=self.source.bucket, Key=key).get("Grants") or []
        except Exception as exc:
            code, status = _error_code(exc)
            if code in _PERMISSION_CODES or code in _UNSUPPORTED_CODES or status in (403, 405, 501):
                self.object_acl = False  # the same answer would come for every object: stop asking
                log.info("s3://%s: object ACLs not readable (%s); object exposure not checked in this walk",
                         self.source.bucket, code or status)
            return ""
        return PUBLIC_OBJECT if _acl_public(grants) else ""


def _note(operation: str, bucket: str, exc: BaseException) -> None:
    if not _is_missing_policy(exc):
        log.debug("s3://%s: %s failed (%s): not counted as public", bucket, operation, _error_code(exc)[0] or exc)
