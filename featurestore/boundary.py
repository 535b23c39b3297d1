"""Translation of the lower layers' errors into the featurestore error tree.

``repos``, ``offline`` and ``online`` each raise their own root error; the facade
wraps every call in ``translated()`` so users catch one tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from featurestore import errors

__all__ = ["redact", "translated"]

# scheme://user:password@  (the password may hold anything but "@" and whitespace)
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@")
# ?password=...  &token=...  in a URL's query
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:password|passwd|pwd|secret|token|access_key|secret_key|sas_token)=)[^&#\s]*",
    re.IGNORECASE,
)
MASK = "***"


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``.

    Used wherever a URL may reach a message: HTTP bodies, logs and CLI errors.
    """
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}", text)


def _translate(e: Exception) -> errors.FeatureStoreError | None:
    module = type(e).__module__.split(".")[0]
    if module not in {"repos", "offline", "online", "sqlalchemy", "redis"}:
        return None
    name = type(e).__name__
    message = redact(str(e) or name)
    if module in {"sqlalchemy", "redis"}:
        return errors.BackendError(f"{module} failed: {message}")
    if "Corrupt" in name:
        return errors.CorruptDataError(message)
    if "Conflict" in name:
        return errors.ConflictError(message)
    if isinstance(e, PermissionError) or "Protected" in name or "Hook" in name:
        return errors.RefusedError(message)
    if isinstance(e, LookupError) or "NotFound" in name:
        return errors.NotFoundError(message)
    if "Schema" in name:
        return errors.SchemaError(message)
    if isinstance(e, ValueError) or "Invalid" in name or "Empty" in name:
        return errors.ValidationError(message)
    if isinstance(e, (ConnectionError, OSError, RuntimeError)):
        return errors.BackendError(message)
    return errors.FeatureStoreError(message)


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise errors of the layers below as ``FeatureStoreError`` subclasses."""
    try:
        yield
    except errors.FeatureStoreError:
        raise
    except Exception as e:
        mapped = _translate(e)
        if mapped is None:
            raise
        raise mapped from e
