"""Turn a failure from deep inside Spark, py4j or S3A into one line an operator can act on."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is wrong; the message is one line that says what to do instead (exit code 2).

    Defined here, below every other module, so that `fruits.config.settings` and `fruits.config.job_config` can both raise it.
    """


class JobError(RuntimeError):
    """The run cannot finish; the message says why. Nothing was committed."""

HINTS = (
    ("UnknownHostException", "the S3 endpoint's host name does not resolve: check FRUITS_S3_ENDPOINT / --s3-endpoint"),
    ("Connection refused", "nothing answers at the S3 endpoint: check FRUITS_S3_ENDPOINT / --s3-endpoint"),
    ("ConnectTimeout", "the S3 endpoint does not answer in time: check FRUITS_S3_ENDPOINT and the network"),
    ("InvalidAccessKeyId", "S3 rejected the access key: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"),
    ("SignatureDoesNotMatch", "S3 rejected the secret key: check AWS_SECRET_ACCESS_KEY"),
    ("403 Forbidden", "S3 denied access (403): check the credentials and the bucket policy"),
    ("NoAuthWithAWSException", "no S3 credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or use IRSA"),
    ("NoSuchBucket", "the S3 bucket does not exist"),
    # The same failures as the AWS SDK for C++ (pyarrow's S3 filesystem, used by the workers) words them.
    ("connect to server", "nothing answers at the S3 endpoint: check FRUITS_S3_ENDPOINT / --s3-endpoint"),
    ("Could not resolve host", "the S3 endpoint's host name does not resolve: check FRUITS_S3_ENDPOINT / --s3-endpoint"),
    ("INVALID_ACCESS_KEY_ID", "S3 rejected the access key: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"),
    ("SIGNATURE_DOES_NOT_MATCH", "S3 rejected the secret key: check AWS_SECRET_ACCESS_KEY"),
    ("ACCESS_DENIED", "S3 denied access (403): check the credentials and the bucket policy"),
    ("NO_SUCH_BUCKET", "the S3 bucket does not exist"),
    # As obstore (the driver's files, fruits.storage.object_store) words them.
    ("dns error", "the S3 endpoint's host name does not resolve: check FRUITS_S3_ENDPOINT / --s3-endpoint"),
)


def root_message(exc: BaseException) -> str:
    """The innermost Java cause of a Py4JJavaError, else the Python message; first line only."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        cause = java
        while cause.getCause() is not None and cause.getCause() != cause:
            cause = cause.getCause()
        text = f"{cause.getClass().getSimpleName()}: {cause.getMessage()}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def explain(exc: BaseException) -> str:
    """One line: a hint when the failure is a known one, then the root cause."""
    full = f"{exc}"
    root = root_message(exc)
    for needle, hint in HINTS:
        if needle in full or needle in root:
            return f"{hint} ({root})"
    return root
