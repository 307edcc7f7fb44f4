"""Where a path lives, and how a storage failure is told apart: transient or permanent.

Failures of botocore, s3fs, aiohttp and Polars' cloud reader are classified here
(:func:`is_transient_error`) and re-raised as :class:`StorageError` subclasses that name
the bucket and key (:func:`storage_error`, :func:`io_errors`). :mod:`tasks.storage`
re-exports every public name.
"""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from tasks.errors import UserError

S3_SCHEMES = ("s3://", "s3a://")
# Local (or mounted) file-system failures that retrying cannot fix: a missing or wrong kind
# of path, permissions, a full disk or quota, a read-only file system, a bad name.
PERMANENT_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EACCES,
        errno.EPERM,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EEXIST,
        errno.ENOTEMPTY,
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.EFBIG,
        errno.EXDEV,
        errno.EINVAL,
        errno.EBADF,
    }
)


class InputNotFoundError(FileNotFoundError, UserError):
    """No data file matched ``data.input_path``."""

    kind = "data error"
    fix = "check data.input_path (a file, a folder or a glob; local or s3://)"


def is_s3(path: str) -> bool:
    """True for ``s3://`` (and ``s3a://``) URLs."""
    return path.startswith(S3_SCHEMES)


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` → ``("bucket", "some/key")``."""
    rest = url.split("://", 1)[1] if "://" in url else url
    bucket, _, key = rest.partition("/")
    return bucket, key


def is_remote(path: str) -> bool:
    """True for URLs such as ``s3://bucket/key``."""
    return "://" in path and not path.startswith("file://")


class StorageError(OSError, UserError):
    """An object-storage request failed; names the bucket and key, says if it may pass.

    Attributes
    ----------
    url, bucket, key
        What was being read or written.
    code, status
        The S3 error code (``NoSuchBucket``, ``SlowDown``) and HTTP status, when known.
    transient
        True when retrying later may succeed (5xx, throttling, timeouts, resets).
    """

    transient = False
    kind = "storage error"

    def __init__(
        self,
        message: str = "",
        *,
        url: str = "",
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.bucket, self.key = split_s3_url(url) if url else ("", "")
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def where(self) -> str:  # type: ignore[override]
        """The URL being read or written."""
        return self.url


class TransientStorageError(StorageError, ConnectionError):
    """5xx, throttling, timeouts, connection resets: still failing after the client retries."""

    transient = True
    fix = "the store kept failing after retries: run again later, or check its health"


class StorageNotFoundError(StorageError, FileNotFoundError):
    """No such bucket, or no such key."""

    fix = "check the bucket and key in data.input_path / data.output_path"


class StoragePermissionError(StorageError, PermissionError):
    """Access denied, or no (valid) credentials."""


class PermanentStorageError(StorageError):
    """Any other client error (4xx): retrying will not help."""


_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "PriorRequestNotComplete",
        "OperationAborted",
    }
)
_NOT_FOUND_CODES = frozenset({"NoSuchBucket", "NoSuchKey", "NoSuchUpload", "NoSuchVersion"})
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "AccountProblem",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "NoCredentialsError",
        "PartialCredentialsError",
    }
)
_STATUS_IN_TEXT = re.compile(r"status code:? (\d{3})|HTTP (\d{3})\b|\((\d{3})\)")
_CODE_IN_TEXT = re.compile(r"<Code>(\w+)</Code>|\((\w+)\) when calling")
# The request URL is exact (path-style: /bucket/key); Polars' "(path: ...)" may name
# another file of the same scan, so it is only the fallback.
_URL_IN_TEXT = re.compile(r"Error performing [A-Z]+ https?://[^/\s]+/([^\s?]+)")
_PATH_IN_TEXT = re.compile(r"\(path: (s3a?://[^)\s]+)\)")
_NETWORK_TEXT = re.compile(
    r"error sending request|connection (?:reset|refused|closed|aborted)|broken pipe|"
    r"timed? ?out|timeout|incomplete ?read|unexpected eof|operation timed out",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Failure:
    code: str | None
    status: int | None
    transient: bool
    message: str
    url: str | None = None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _classify_one(exc: BaseException) -> _Failure | None:
    """What one exception says about a remote request, or ``None`` if it says nothing."""
    import botocore.exceptions as boto_exc  # noqa: PLC0415 (only needed once something failed)
    from botocore.parsers import ResponseParserError  # noqa: PLC0415

    response = getattr(exc, "response", None)
    if isinstance(exc, boto_exc.ClientError) and isinstance(response, dict):
        error = response.get("Error") or {}
        code = str(error.get("Code") or "") or None
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        status = int(status) if status else (int(code) if code and code.isdigit() else None)
        code = None if code and code.isdigit() else code  # HEAD: no body, the code is the status
        transient = code in _TRANSIENT_CODES or (status is not None and _transient_status(status))
        return _Failure(code, status, transient, str(error.get("Message") or exc))
    if isinstance(exc, boto_exc.NoCredentialsError | boto_exc.PartialCredentialsError):
        return _Failure(type(exc).__name__, None, False, str(exc))
    if isinstance(exc, boto_exc.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return _Failure(type(exc).__name__, None, False, str(exc))  # a setup error
    network = (boto_exc.HTTPClientError, boto_exc.ConnectionError, boto_exc.ResponseStreamingError)
    if isinstance(exc, network):
        return _Failure(type(exc).__name__, None, True, str(exc))  # connect/read/reset
    if isinstance(exc, ResponseParserError):
        return _Failure(type(exc).__name__, None, True, str(exc))  # a truncated response
    if _is_aiohttp_error(exc):
        return _Failure(type(exc).__name__, None, True, str(exc))
    if type(exc).__name__ == "FSTimeoutError" or isinstance(exc, TimeoutError):
        return _Failure(type(exc).__name__, None, True, str(exc) or "timed out")
    text = str(exc)
    if "object-store error" in text or "Generic S3 error" in text:  # Polars' cloud reader
        return _from_text(exc, text)
    if isinstance(exc, ConnectionError):
        return _Failure(type(exc).__name__, None, True, text)
    return None


def _from_text(exc: BaseException, text: str) -> _Failure:
    status_match = _STATUS_IN_TEXT.search(text)
    status = int(next(g for g in status_match.groups() if g)) if status_match else None
    code_match = _CODE_IN_TEXT.search(text)
    code = next((g for g in code_match.groups() if g), None) if code_match else None
    url_match = _URL_IN_TEXT.search(text)
    path_match = _PATH_IN_TEXT.search(text)
    url = f"s3://{unquote(url_match.group(1))}" if url_match else None
    if status is not None or code is not None:
        transient = code in _TRANSIENT_CODES or (status is not None and _transient_status(status))
    else:
        transient = bool(_NETWORK_TEXT.search(text)) or isinstance(
            exc, ConnectionError | TimeoutError
        )
    if status is None and code is None and isinstance(exc, FileNotFoundError):
        code = "NoSuchKey"
    message = text.split(" - ", 1)[-1].split("<?xml", 1)[0].strip(" :") or text
    return _Failure(code, status, transient, message, url or (path_match and path_match.group(1)))


def _transient_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def _is_aiohttp_error(exc: BaseException) -> bool:
    try:
        import aiohttp  # noqa: PLC0415 (only needed once something failed)
    except ImportError:  # s3fs brings aiohttp; without it no aiohttp error can occur
        return False
    return isinstance(exc, aiohttp.ClientError) and not isinstance(exc, aiohttp.ClientResponseError)


def _classify(exc: BaseException) -> _Failure | None:
    for link in _chain(exc):
        failure = _classify_one(link)
        if failure is not None:
            return failure
    return None


def is_transient_error(exc: BaseException) -> bool:
    """True when a failed I/O call may succeed if retried later.

    Transient: HTTP 5xx, 408, 429, S3 throttling codes (``SlowDown``, ``Throttling``...),
    timeouts, connection resets and refusals, truncated responses, and other ``OSError``.
    Permanent: no such bucket/key, access denied, missing credentials, other 4xx, local
    file-system errors a retry cannot fix (missing path, not a directory, is a directory,
    permissions, no space left, quota, read-only file system: :func:`is_permanent_os_error`),
    and every non-I/O exception.
    """
    for link in _chain(exc):
        if isinstance(link, StorageError):
            return link.transient
    failure = _classify(exc)
    if failure is not None:
        return failure.transient
    if isinstance(exc, OSError) and is_permanent_os_error(exc):
        return False
    return isinstance(exc, OSError | ConnectionError | TimeoutError)


def is_permanent_os_error(exc: OSError) -> bool:
    """True for file-system failures a retry cannot fix (see :data:`PERMANENT_ERRNOS`)."""
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return True
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return True
    return exc.errno in PERMANENT_ERRNOS


class LocalStorageError(UserError):
    """A local file-system failure a retry cannot fix, with what to do about it."""

    kind = "storage error"


_LOCAL_FIXES = {
    errno.ENOSPC: "free disk space, or set data.output_path to a disk with room",
    errno.EDQUOT: "free space within the quota, or set data.output_path elsewhere",
    errno.EROFS: "the file system is read-only: set data.output_path to a writable place",
    errno.EACCES: "give this user access to the path, or set data.output_path elsewhere",
    errno.EPERM: "give this user access to the path, or set data.output_path elsewhere",
    errno.ENOTDIR: "a part of the path is a file where a folder is needed: move the file "
    "away, or set data.output_path elsewhere",
    errno.EISDIR: "a folder is where a file is needed: move the folder away",
    errno.ENOENT: "check that the path exists (data.input_path, data.output_path)",
}


def local_error(exc: BaseException) -> LocalStorageError | None:
    """A permanent local ``OSError`` that names a path as a :class:`LocalStorageError`."""
    if not isinstance(exc, OSError) or not is_permanent_os_error(exc) or not exc.filename:
        return None
    path = str(exc.filename)
    what = exc.strerror or type(exc).__name__
    fix = _LOCAL_FIXES.get(exc.errno or 0, "check the path, or set data.output_path elsewhere")
    return LocalStorageError(f"{what}: {path}", where=path, fix=fix)


def storage_error(exc: BaseException, url: str) -> StorageError | None:
    """``exc`` (raised while touching ``url``) as a :class:`StorageError`, or ``None``.

    ``None`` means the exception is not about the storage request (a bad value, bad data)
    and should propagate unchanged.
    """
    if isinstance(exc, StorageError | InputNotFoundError):
        return None
    failure = _classify(exc)
    if failure is None:
        if not isinstance(exc, OSError):
            return None
        failure = _Failure(type(exc).__name__, None, is_transient_error(exc), str(exc))
    url = failure.url or url
    bucket, key = split_s3_url(url)
    code, status = failure.code, failure.status
    what = f"bucket {bucket!r}, key {key!r}" if key else f"bucket {bucket!r}"
    detail = ", ".join(str(x) for x in (code, f"HTTP {status}" if status else None) if x)
    if failure.transient:
        return TransientStorageError(
            f"transient S3 failure on {what} ({detail}), still failing after the client's "
            f"retries: {failure.message}",
            url=url,
            code=code,
            status=status,
        )
    if code == "NoSuchBucket":
        message = f"S3 bucket {bucket!r} does not exist (NoSuchBucket) while reading {url}"
        return StorageNotFoundError(message, url=url, code=code, status=status)
    if code in _NOT_FOUND_CODES or status == 404 or isinstance(exc, FileNotFoundError):
        message = f"no such S3 object: {what} ({detail or 'NoSuchKey'})"
        return StorageNotFoundError(message, url=url, code=code, status=status)
    if code in _DENIED_CODES or status in (401, 403) or isinstance(exc, PermissionError):
        message = (
            f"S3 access denied on {what} ({detail}): {failure.message}. Check the IAM policy "
            "of the role or user, and where credentials come from (environment / IAM role, "
            "or storage.aws_credentials_block)"
        )
        return StoragePermissionError(message, url=url, code=code, status=status)
    message = f"S3 request failed on {what} ({detail}): {failure.message}"
    return PermanentStorageError(message, url=url, code=code, status=status)


@contextlib.contextmanager
def io_errors(url: str) -> Iterator[None]:
    """Re-raise object-storage failures inside the block as :class:`StorageError`.

    Local paths pass through untouched; exceptions that are not about the request (bad
    data, bad values) propagate unchanged.
    """
    if not is_remote(url):
        yield
        return
    try:
        yield
    except Exception as exc:
        error = storage_error(exc, url)
        if error is None:
            raise
        raise error from exc
