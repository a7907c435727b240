"""SMB shares (Windows file servers, Samba, NAS): ``smb://server[:port]/share/optional/path``.

The URL is percent-decoded as UTF-8 (``smb://fs01/共有/%E9%96%8B%E7%99%BA%E9%83%A8`` and
``smb://fs01/共有/開発部`` are the same place). Entries are reported as ``smb://server[:port]/share/dir/file``
with the real (Unicode, not percent-encoded) names; the server name is lower-cased and the port appears only
when the URL gave one.

Credentials are never taken from the URL: a URL with ``user@`` or ``user:password@`` is refused with
``scan.auth``. Each of username, password and domain is taken from the first of these places that provides
it; later places are not looked at (nor their files read) once a username and a password were found:

1. the source's options ``username``, ``password``, ``domain``;
2. the file named by the option ``credentials_file``;
3. the environment: ``HIMITSU_SMB_USERNAME``, ``HIMITSU_SMB_PASSWORD`` (or else the first line of the file
   named by ``HIMITSU_SMB_PASSWORD_FILE``), ``HIMITSU_SMB_DOMAIN``;
4. the file named by ``HIMITSU_SMB_CREDENTIALS``.

Credentials files use the smbclient ``-A`` / mount.cifs format: ``username=...``, ``password=...``,
``domain=...`` lines (spaces around ``=`` allowed, ``#`` comments; ``user``/``pass``/``dom`` also accepted).
Without any username, smbprotocol tries implicit (Kerberos) authentication. Credentials are read when the
first connection is made, in the process that makes it (a worker re-creating the source from its spec reads
its own environment).

Other options: ``port`` (int, default 445; a port in the URL wins), ``timeout`` (seconds, default 15: to
establish a connection, and the silence after which the server must answer an echo; a server silent for
twice this long is dropped, ``scan.connection``, so a hung server cannot hang a walk or a read),
``encrypt`` (bool, require SMB3 encryption), ``exposure`` (bool, default True: query each file's security
descriptor, one compound create/query/close round trip per file).

Walk: folders are listed recursively, entries sorted by name, files and folders interleaved (a folder's
content comes right after its own name). A folder that cannot be listed is one :class:`WalkError`
(``scan.permission`` or ``scan.io``; ``scan.vanished`` if it disappeared) and the walk goes on. A dropped
connection or refused session mid-walk raises :class:`ScanIOError` (``scan.connection`` / ``scan.auth``): the
rest of the share cannot be walked.

Links: Samba (without SMB3 POSIX extensions) resolves symbolic links on the server and shows them as the
file or folder they point to (links leaving the share and dangling links are not listed at all). Such a
folder link is followed; a folder whose file id (the inode on Samba) is one of its own ancestors is not
entered and is reported as ``scan.loop``, so a link back up the tree ends there. A linked file is reported
under each of its names. Windows servers show links as reparse points: an entry whose reparse tag is a "name
surrogate" (symbolic links, junctions, mount points) or an NFS-style special file is not followed nor read
and is reported as ``scan.not_regular``; other reparse points (deduplicated files, cloud placeholders) are
ordinary files.

Exposure: ``smb.everyone`` when the file's DACL grants read (FILE_READ_DATA, GENERIC_READ or GENERIC_ALL)
to Everyone (S-1-1-0) before any deny ACE for Everyone, or when the file has a NULL DACL (everyone has full
access). Samba builds the DACL from the POSIX mode: the "other" bits become an Everyone ACE, so a 0o644 file
is ``smb.everyone``. Only the file's own descriptor is checked: share-level permissions (set in the server's
share configuration, only readable through the srvsvc RPC service) are not. If the descriptor cannot be read
(a server refusing READ_CONTROL to the scanning account usually means the file is not open to everyone
either) the exposure is "".

Sessions are opened lazily and kept per source and per process (a source object that was forked into
another process opens its own); :meth:`SMBSource.close` logs them off.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from himitsu.engine.scan.sources.base import Entry, ScanIOError, Source, SourceSpec, WalkError

ENV_USERNAME = "HIMITSU_SMB_USERNAME"
ENV_PASSWORD = "HIMITSU_SMB_PASSWORD"
ENV_PASSWORD_FILE = "HIMITSU_SMB_PASSWORD_FILE"
ENV_DOMAIN = "HIMITSU_SMB_DOMAIN"
ENV_CREDENTIALS = "HIMITSU_SMB_CREDENTIALS"

DEFAULT_PORT = 445
DEFAULT_TIMEOUT = 15.0
MAX_DEPTH = 512  # folders deeper than this are reported as scan.loop (a link cycle the file ids did not reveal)

EVERYONE_SID = "S-1-1-0"
_READ_BITS = 0x00000001 | 0x80000000 | 0x10000000  # FILE_READ_DATA | GENERIC_READ | GENERIC_ALL
_READ_CONTROL = 0x00020000
_DACL_SECURITY_INFORMATION = 0x00000004
_SE_DACL_PRESENT = 0x0004
_INHERIT_ONLY_ACE = 0x08
_ACCESS_ALLOWED_ACE_TYPE = 0x00
_ACCESS_DENIED_ACE_TYPE = 0x01

_FILE_ATTRIBUTE_DIRECTORY = 0x00000010
_FILE_ATTRIBUTE_REPARSE_POINT = 0x00000400
_REPARSE_NAME_SURROGATE = 0x20000000   # symbolic links, junctions, mount points
_IO_REPARSE_TAG_NFS = 0x80000014       # Samba's special files (FIFO, socket, device) when it reports them

# NTSTATUS values (MS-ERREF) grouped by the scan error they mean
_NOT_FOUND = {
    0xC000000F,  # STATUS_NO_SUCH_FILE
    0xC0000034,  # STATUS_OBJECT_NAME_NOT_FOUND
    0xC000003A,  # STATUS_OBJECT_PATH_NOT_FOUND
    0xC0000056,  # STATUS_DELETE_PENDING
    0xC0000123,  # STATUS_FILE_DELETED
    0xC00000CC,  # STATUS_BAD_NETWORK_NAME (no such share)
    0xC0000225,  # STATUS_NOT_FOUND
}
_PERMISSION = {
    0xC0000022,  # STATUS_ACCESS_DENIED
    0xC0000061,  # STATUS_PRIVILEGE_NOT_HELD
    0xC00000CA,  # STATUS_NETWORK_ACCESS_DENIED
}
_AUTH = {
    0xC000006A,  # STATUS_WRONG_PASSWORD
    0xC000006D,  # STATUS_LOGON_FAILURE
    0xC000006E,  # STATUS_ACCOUNT_RESTRICTION
    0xC000006F,  # STATUS_INVALID_LOGON_HOURS
    0xC0000070,  # STATUS_INVALID_WORKSTATION
    0xC0000071,  # STATUS_PASSWORD_EXPIRED
    0xC0000072,  # STATUS_ACCOUNT_DISABLED
    0xC0000193,  # STATUS_ACCOUNT_EXPIRED
    0xC0000224,  # STATUS_PASSWORD_MUST_CHANGE
    0xC0000234,  # STATUS_ACCOUNT_LOCKED_OUT
}
_CONNECTION = {
    0xC00000C9,  # STATUS_NETWORK_NAME_DELETED
    0xC000020C,  # STATUS_CONNECTION_DISCONNECTED
    0xC000013C,  # STATUS_REMOTE_DISCONNECT
    0xC0000203,  # STATUS_USER_SESSION_DELETED
    0xC00000B5,  # STATUS_IO_TIMEOUT
}
_NOT_REGULAR = {
    0xC00000BA,  # STATUS_FILE_IS_A_DIRECTORY
}
_SHARING_VIOLATION = 0xC0000043


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    domain: str | None = None

    @property
    def principal(self) -> str | None:
        """The user name as smbprotocol wants it: ``DOMAIN\\user`` when a domain is set."""
        if not self.username:
            return None
        if self.domain and "\\" not in self.username and "@" not in self.username:
            return f"{self.domain}\\{self.username}"
        return self.username

    def __repr__(self) -> str:  # never show the password
        hidden = "***" if self.password else None
        return f"Credentials(username={self.username!r}, domain={self.domain!r}, password={hidden})"


@dataclass(frozen=True)
class Target:
    host: str
    port: int | None   # from the URL; None if it had none
    share: str
    parts: tuple[str, ...]

    @property
    def prefix(self) -> str:
        """``smb://host[:port]/share``, the start of every entry's path."""
        port = f":{self.port}" if self.port is not None else ""
        return f"smb://{self.host}{port}/{self.share}"


def parse_url(url: str) -> Target:
    """The parts of ``smb://server[:port]/share/path`` (percent-decoded); credentials in it are refused.
    ``#`` and ``?`` are part of names (Windows allows ``#`` in file names), not a fragment or a query."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "smb" or not sep:
        raise ScanIOError("scan.not_found", "not an smb:// URL")
    netloc, _, path = rest.partition("/")
    if "@" in netloc:
        raise ScanIOError("scan.auth", "credentials must not be in the URL: use the source options, "
                          f"{ENV_CREDENTIALS} or the {ENV_USERNAME}/{ENV_PASSWORD_FILE} environment variables")
    split = urlsplit(f"smb://{netloc}")
    try:
        port = split.port
    except ValueError:
        raise ScanIOError("scan.not_found", f"invalid port in {url!r}") from None
    host = split.hostname or ""
    names = [unquote(p, encoding="utf-8", errors="strict") for p in path.split("/") if p]
    if not host or not names:
        raise ScanIOError("scan.not_found", f"expected smb://server/share[/path], got {url!r}")
    for name in names:
        if name in (".", "..") or "\\" in name or "\x00" in name:
            raise ScanIOError("scan.not_found", f"invalid name {name!r} in {url!r}")
    return Target(host=host, port=port, share=names[0], parts=tuple(names[1:]))


def read_credentials_file(path: str | os.PathLike[str]) -> Credentials:
    """A smbclient ``-A`` / mount.cifs credentials file."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScanIOError("scan.auth", f"cannot read the SMB credentials file {str(path)!r}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    values: dict[str, str] = {}
    keys = {"username": "username", "user": "username", "password": "password", "pass": "password",
            "domain": "domain", "dom": "domain", "workgroup": "domain"}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = keys.get(key.strip().lower())
        if key:
            values[key] = value.strip()
    return Credentials(values.get("username") or None, values.get("password"), values.get("domain") or None)


def resolve_credentials(options: dict[str, Any], environ: dict[str, str] | os._Environ[str]) -> Credentials:
    """Username, password and domain, each from the first place that has it (see the module docstring).
    Files are only read while the username or the password is still missing."""

    def env_password() -> str | None:
        if environ.get(ENV_PASSWORD) is not None or not environ.get(ENV_PASSWORD_FILE):
            return environ.get(ENV_PASSWORD)
        try:
            lines = Path(environ[ENV_PASSWORD_FILE]).read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ScanIOError("scan.auth", f"cannot read {ENV_PASSWORD_FILE} {environ[ENV_PASSWORD_FILE]!r}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        return lines[0] if lines else ""

    layers = [
        lambda: Credentials(options.get("username") or None, options.get("password"), options.get("domain") or None),
        lambda: read_credentials_file(options["credentials_file"]) if options.get("credentials_file") else None,
        lambda: Credentials(environ.get(ENV_USERNAME) or None, env_password(), environ.get(ENV_DOMAIN) or None),
        lambda: read_credentials_file(environ[ENV_CREDENTIALS]) if environ.get(ENV_CREDENTIALS) else None,
    ]
    found: dict[str, str | None] = {"username": None, "password": None, "domain": None}
    for layer in layers:
        if found["username"] is not None and found["password"] is not None:
            break
        creds = layer()
        for attr in found:
            if found[attr] is None and creds is not None:
                found[attr] = getattr(creds, attr)
    return Credentials(**found)


def everyone_can_read(descriptor: bytes) -> bool:
    """Whether a self-relative SECURITY_DESCRIPTOR (MS-DTYP 2.4.6) lets Everyone read the file's data."""
    if len(descriptor) < 20:
        return False
    control, = struct.unpack_from("<H", descriptor, 2)
    offset_dacl, = struct.unpack_from("<I", descriptor, 16)
    if not control & _SE_DACL_PRESENT or offset_dacl == 0:
        return True  # NULL DACL: no restriction at all
    acl_size, ace_count = struct.unpack_from("<HH", descriptor, offset_dacl + 2)
    pos, end = offset_dacl + 8, offset_dacl + acl_size
    for _ in range(ace_count):
        if pos + 8 > min(end, len(descriptor)):
            break
        ace_type, ace_flags, ace_size, mask = struct.unpack_from("<BBHI", descriptor, pos)
        if ace_size < 8:
            break
        if ace_type in (_ACCESS_ALLOWED_ACE_TYPE, _ACCESS_DENIED_ACE_TYPE) and not ace_flags & _INHERIT_ONLY_ACE:
            if _sid_string(descriptor[pos + 8:pos + ace_size]) == EVERYONE_SID and mask & _READ_BITS:
                return ace_type == _ACCESS_ALLOWED_ACE_TYPE
        pos += ace_size
    return False


def _sid_string(raw: bytes) -> str:
    if len(raw) < 8:
        return ""
    revision, count = raw[0], raw[1]
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack_from(f"<{count}I", raw, 8) if len(raw) >= 8 + 4 * count else ()
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "ntstatus", None)
    if status is None:
        try:
            status = getattr(exc, "status", None)
        except Exception:  # SMBResponseException.status parses its header
            status = None
    return status if isinstance(status, int) else None


def _release(raw: Any) -> None:
    """Close an smbclient handle; one whose connection died is only marked closed (the server dropped it), so
    that smbclient does not warn about an unclosed handle when it is garbage-collected."""
    if raw.closed:
        return
    try:
        raw.close()
    except Exception:
        if not raw.closed:
            raw.fd._connected = False


class SMBSource(Source):
    """Files on an SMB share, through smbprotocol's ``smbclient`` (SMB 2/3, NTLM or Kerberos)."""

    scheme = "smb"

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self.target = parse_url(spec.url)
        options = spec.options
        self.port = int(self.target.port or options.get("port") or DEFAULT_PORT)
        self.timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
        self.encrypt = bool(options["encrypt"]) if options.get("encrypt") is not None else None
        self.check_exposure = bool(options.get("exposure", True))
        self._credentials: Credentials | None = None
        self._cache: dict[str, Any] = {}
        self._pid = os.getpid()

    # -- connection -------------------------------------------------------------------------------------------

    def _kwargs(self) -> dict[str, Any]:
        """smbclient's keyword arguments, after making sure this process has a live connection to the server."""
        if self._pid != os.getpid():
            # forked: the parent's connections (and their receiver threads) are not ours to use or log off
            self._cache, self._pid = {}, os.getpid()
        if self._credentials is None:
            self._credentials = resolve_credentials(self.spec.options, os.environ)
        self._connect()
        creds = self._credentials
        kwargs: dict[str, Any] = {
            "username": creds.principal, "password": creds.password, "port": self.port,
            "connection_timeout": self.timeout, "connection_cache": self._cache,
        }
        if self.encrypt is not None:
            kwargs["encrypt"] = self.encrypt
        return kwargs

    def _connect(self) -> None:
        """Open the TCP connection ourselves (smbclient then adds the session to it) so that a server that stops
        answering is noticed: smbprotocol's receiver thread sends an echo after ``_receive_timeout`` idle seconds
        and drops the connection when that goes unanswered as long again (its default, 600 s, would let a walk
        hang for 20 minutes). A dead connection is replaced (the server may have restarted)."""
        from smbclient import ClientConfig
        from smbprotocol.connection import Connection

        key = f"{self.target.host.lower()}:{self.port}"
        connection = self._cache.get(key)
        if connection is not None and connection.transport.connected:
            return
        self._cache.pop(key, None)
        connection = Connection(ClientConfig().client_guid, self.target.host, self.port, require_signing=True)
        connection._receive_timeout = max(1, round(self.timeout))  # read by the receiver thread on each wait
        connection.connect(timeout=self.timeout)
        self._cache[key] = connection

    def _unc(self, parts: tuple[str, ...] | list[str]) -> str:
        return "\\".join(["", "", self.target.host, self.target.share, *parts])

    def _path(self, parts: tuple[str, ...] | list[str]) -> str:
        return "/".join([self.target.prefix, *parts])

    def _connection_lost(self) -> bool:
        for connection in list(self._cache.values()):
            transport = getattr(connection, "transport", None)
            worker = getattr(connection, "_t_worker", None)
            if (transport is not None and not transport.connected) or (worker is not None and not worker.is_alive()):
                return True
        return False

    def _code(self, exc: BaseException, missing: str) -> str:
        """The scan error code for an exception from smbprotocol; ``missing`` is the code for "no such file"."""
        if isinstance(exc, ScanIOError):
            return exc.code
        from smbprotocol.exceptions import SMBAuthenticationError, SMBConnectionClosed

        status = _status(exc)
        if status is not None:
            if status in _NOT_FOUND:
                return missing
            if status in _PERMISSION:
                return "scan.permission"
            if status in _AUTH:
                return "scan.auth"
            if status in _CONNECTION:
                return "scan.connection"
            if status in _NOT_REGULAR:
                return "scan.not_regular"
        if isinstance(exc, SMBAuthenticationError) or type(exc).__module__.startswith("spnego"):
            return "scan.auth"
        if isinstance(exc, SMBConnectionClosed | ConnectionError | TimeoutError):
            return "scan.connection"
        if isinstance(exc, ValueError) and str(exc).startswith("Failed to connect"):
            return "scan.connection"   # smbprotocol's transport wraps socket errors in ValueError
        if isinstance(exc, OSError) and status is None and exc.errno in (
                errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
            return "scan.connection"
        if "timeout" in str(exc).lower() and "exceeded" in str(exc).lower():
            return "scan.connection"   # smbprotocol: "Connection timeout of N seconds exceeded while waiting ..."
        if self._connection_lost():
            return "scan.connection"
        return "scan.io"

    def _error(self, exc: BaseException, missing: str) -> ScanIOError:
        if isinstance(exc, ScanIOError):
            return exc
        code = self._code(exc, missing)
        detail = str(exc) or type(exc).__name__
        if code == "scan.connection":
            detail = f"{self.target.host}:{self.port}: {detail}"
        elif _status(exc) == _SHARING_VIOLATION:
            detail = f"in use by another program (sharing violation): {detail}"
        return ScanIOError(code, detail)

    # -- walk -------------------------------------------------------------------------------------------------

    def walk(self) -> Iterator[Entry | WalkError]:
        import smbclient

        parts = self.target.parts
        try:
            root = smbclient.stat(self._unc(parts), follow_symlinks=True, **self._kwargs())
        except Exception as exc:
            raise self._error(exc, "scan.not_found") from exc
        if not root.st_file_attributes & _FILE_ATTRIBUTE_DIRECTORY:
            yield self._entry(list(parts), root.st_size, root.st_mtime)
            return
        yield from self._walk_tree(parts, root.st_ino)

    def _list(self, parts: tuple[str, ...]) -> list[Any] | WalkError:
        import smbclient

        try:
            with smbclient.scandir(self._unc(parts), **self._kwargs()) as it:
                return sorted(it, key=lambda e: e.name)
        except Exception as exc:
            err = self._error(exc, "scan.vanished")
            if err.code in ("scan.connection", "scan.auth"):
                raise err from exc
            return WalkError(self._path(parts), err.code, err.detail)

    def _walk_tree(self, top: tuple[str, ...], top_id: int) -> Iterator[Entry | WalkError]:
        listing = self._list(top)
        if isinstance(listing, WalkError):
            yield listing
            return
        # a stack of (folder parts, its ancestors' file ids, iterator over its sorted children)
        stack = [(top, (top_id,), iter(listing))]
        while stack:
            parts, ancestors, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                continue
            info = child.smb_info
            child_parts = (*parts, child.name)
            attrs = info.file_attributes
            if attrs & _FILE_ATTRIBUTE_REPARSE_POINT:
                tag = info.ea_size  # MS-FSCC: EaSize holds the reparse tag when the reparse attribute is set
                if tag & _REPARSE_NAME_SURROGATE or tag == _IO_REPARSE_TAG_NFS:
                    yield WalkError(self._path(child_parts), "scan.not_regular",
                                    f"link or special file (reparse tag 0x{tag:08x}): not followed")
                    continue
            if attrs & _FILE_ATTRIBUTE_DIRECTORY:
                file_id = info.file_id
                if file_id and file_id in ancestors:
                    yield WalkError(self._path(child_parts), "scan.loop",
                                    "leads back to a folder that contains it (a link on the server)")
                    continue
                if len(child_parts) - len(top) > MAX_DEPTH:
                    yield WalkError(self._path(child_parts), "scan.loop", f"more than {MAX_DEPTH} nested folders")
                    continue
                listing = self._list(child_parts)
                if isinstance(listing, WalkError):
                    yield listing
                else:
                    stack.append((child_parts, (*ancestors, file_id), iter(listing)))
                continue
            yield self._entry(list(child_parts), info.end_of_file, info.last_write_time.timestamp())

    def _entry(self, parts: list[str], size: int, mtime: float) -> Entry:
        exposure = self._exposure(parts) if self.check_exposure else ""
        return Entry(path=self._path(parts), size=size, mtime=mtime, exposure=exposure,
                     extra={"smb_parts": tuple(parts)})

    # -- exposure ---------------------------------------------------------------------------------------------

    def security_descriptor(self, parts: list[str] | tuple[str, ...]) -> bytes:
        """The file's self-relative security descriptor (DACL only), in one compound create/query/close."""
        from smbclient._io import SMBFileTransaction, SMBRawIO
        from smbprotocol.file_info import InfoType
        from smbprotocol.open import SMB2QueryInfoRequest, SMB2QueryInfoResponse

        raw = SMBRawIO(self._unc(parts), mode="r", share_access="rwd", desired_access=_READ_CONTROL,
                       **self._kwargs())
        transaction = SMBFileTransaction(raw)
        request = SMB2QueryInfoRequest()
        request["info_type"] = InfoType.SMB2_0_INFO_SECURITY
        request["output_buffer_length"] = 65536
        request["additional_information"] = _DACL_SECURITY_INFORMATION
        request["file_id"] = raw.fd.file_id  # the compound's related create fills in the real handle

        def receive(sent: Any) -> bytes:
            response = raw.fd.connection.receive(sent)
            info = SMB2QueryInfoResponse()
            info.unpack(response["data"].get_value())
            return info["buffer"].get_value()

        transaction += (request, receive)
        try:
            transaction.commit()
        finally:
            _release(raw)
        return transaction.results[0]

    def _exposure(self, parts: list[str]) -> str:
        try:
            descriptor = self.security_descriptor(parts)
        except Exception as exc:
            if self._code(exc, "scan.vanished") in ("scan.connection", "scan.auth"):
                raise self._error(exc, "scan.vanished") from exc
            return ""  # no READ_CONTROL, or a server without descriptors: not known to be open to everyone
        try:
            return "smb.everyone" if everyone_can_read(descriptor) else ""
        except struct.error:
            return ""

    # -- read -------------------------------------------------------------------------------------------------

    def _parts_of(self, entry: Entry) -> tuple[str, ...]:
        parts = entry.extra.get("smb_parts")
        if parts is not None:
            return tuple(parts)
        prefix = self.target.prefix + "/"
        if entry.path == self.target.prefix or not entry.path.startswith(prefix):
            raise ScanIOError("scan.not_found", f"{entry.path!r} is not on {self.target.prefix}")
        return tuple(entry.path[len(prefix):].split("/"))

    def read(self, entry: Entry, limit: int) -> bytes:
        import smbclient

        parts = self._parts_of(entry)
        f = None
        try:
            f = smbclient.open_file(self._unc(parts), mode="rb", buffering=0, share_access="rwd", **self._kwargs())
            size = f.fd.end_of_file  # from the open's response: no extra round trip
            if size > limit:
                raise ScanIOError("scan.too_large", f"{size} bytes > limit {limit}")
            chunks: list[bytes] = []
            remaining = limit + 1
            while remaining > 0:
                chunk = f.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
        except ScanIOError:
            raise
        except Exception as exc:
            raise self._error(exc, "scan.vanished") from exc
        finally:
            if f is not None:
                _release(f)
        data = b"".join(chunks)
        if len(data) > limit:
            raise ScanIOError("scan.too_large", f"more than {limit} bytes")
        return data

    # -- close ------------------------------------------------------------------------------------------------

    def close(self) -> None:
        cache, self._cache = self._cache, {}
        if self._pid != os.getpid():
            self._pid = os.getpid()
            return
        for connection in cache.values():
            try:  # logs the sessions off when the server still answers (bounded by the receive timeout)
                connection.disconnect(close=True, timeout=self.timeout)
            except Exception:  # a dead server: nothing left to release but the socket
                with contextlib.suppress(Exception):
                    connection.disconnect(close=False)
