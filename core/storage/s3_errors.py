"""What an S3 server's refusals and a network's failures mean for a person: each becomes one StorageError
naming the bucket or endpoint, and each is judged transient (worth another try) or not.

Servers differ in how they say the same thing: a HEAD has no body, so a refused HEAD is a bare 403 and a
missing bucket a bare 404; rclone says InvalidAccessKeyId where AWS says AccessDenied. The classes here
go by the code first and the HTTP status second.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ResponseStreamingError,
)

from timekeep.core.errors import AccessDenied, DriveGone, NoCredentials, NoSuchBucket, StorageError

REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "InvalidToken",
           "ExpiredToken", "TokenRefreshRequired", "AccountProblem", "InvalidSecurity", "403"}
TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "Throttling", "ThrottlingException",
                   "RequestTimeout", "RequestTimeTooSkewed", "TooManyRequests", "RequestLimitExceeded",
                   "BandwidthLimitExceeded", "OperationAborted"}
TRANSIENT_STATUS = {429, 500, 502, 503, 504}
MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
CONDITION_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
NETWORK_ERRORS = (ConnectionError, HTTPClientError, IncompleteReadError, ResponseStreamingError)


def code_of(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", "") or status_of(err))


def status_of(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_missing(err: BaseException) -> bool:
    """A 404 for an object (not for the bucket: NoSuchBucket is its own code where the server sends a body)."""
    return isinstance(err, ClientError) and code_of(err) in MISSING_CODES


def is_condition_failed(err: BaseException) -> bool:
    """The server refused a conditional write (If-None-Match, If-Match): someone else's object is there."""
    return isinstance(err, ClientError) and (code_of(err) in CONDITION_CODES or status_of(err) == 412)


def is_transient(err: BaseException) -> bool:
    """Worth another try after a pause: a server error or throttling, a dropped or refused connection."""
    if isinstance(err, ClientError):
        return code_of(err) in TRANSIENT_CODES or status_of(err) in TRANSIENT_STATUS
    return isinstance(err, NETWORK_ERRORS)


def storage_error(err: BaseException, url: str, endpoint: str, doing: str) -> StorageError:
    """The one-line StorageError for `err`, met while `doing` (e.g. "reading packs/ab/ab12.pack")."""
    if isinstance(err, (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)):
        return NoCredentials(f"no credentials for {url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                             "name a profile of ~/.aws/credentials in AWS_PROFILE")
    if isinstance(err, NETWORK_ERRORS):
        return DriveGone(f"cannot reach the S3 server {endpoint} ({_first_line(err)}) while {doing}; "
                         "check the network and try again (nothing already stored was lost)")
    if isinstance(err, ClientError):
        return _refusal(err, url, endpoint, doing)
    if isinstance(err, BotoCoreError):
        return StorageError(f"{doing} in {url} failed: {_first_line(err)}")
    raise err


def _refusal(err: ClientError, url: str, endpoint: str, doing: str) -> StorageError:
    code = code_of(err)
    bucket = url.removeprefix("s3://").partition("/")[0]
    if code == "NoSuchBucket":
        return NoSuchBucket(f"there is no bucket {bucket!r} at {endpoint}; create it first, or check the name")
    if code in REFUSED:
        return AccessDenied(f"{endpoint} refused access to {url} for these credentials ({code}) while {doing}")
    if is_transient(err):
        return StorageError(f"the S3 server {endpoint} kept failing ({code}) while {doing}; try again later "
                            "(nothing already stored was lost)")
    message = err.response.get("Error", {}).get("Message") or ""
    return StorageError(f"{doing} in {url} failed: {code} {message}".rstrip())


def _first_line(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]
