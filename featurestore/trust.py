"""The trust rule for stored on-demand code, and the project's trust list.

An on-demand view's function is stored in the registry as source text, on a branch
that anyone who may write that branch can change. So stored code is data: loading a
registry (``registry()``, ``plan``, ``ingest``, retrieval or lookups of other views,
the server's refresh) never runs it. It runs only when its own view is computed, and
only if it is trusted, which means either:

- this process made it: ``@on_demand_feature_view`` built it here from a function
  that this process imported from the project's own Python files; or
- its sha256 is in this project's trust list, the file ``.featurestore/trusted-code.json``
  in the project folder. The file lives outside the repository, so no branch, merge or
  upload through the server can change it; whoever can write the project folder can.
  Its folder carries a ``.gitignore``, so it stays out of the project's version control.

``apply`` adds the sources it applies from this process's own functions to the list
(the project's owner applying their own files), so the common flow needs no extra
step. Code that came from anywhere else (a branch someone else applied, a merge) is
refused with ``UntrustedCodeError`` until someone reviews it and trusts it:
``featurestore trust VIEW --ref REF`` (prints the source, then ``--yes`` trusts it) or
``FeatureStore.trust_code(view, ref=...)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from featurestore.definitions.on_demand import OnDemandFeatureView
from featurestore.definitions.udf_source import is_local_source, source_hash
from featurestore.errors import ConfigError

__all__ = ["TRUST_FILE", "CodeTrust"]

TRUST_FILE: Final = ".featurestore/trusted-code.json"
_FORMAT: Final = 1


class CodeTrust:
    """The trust list of one project folder: sha256 of sources that may run here."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._hashes: frozenset[str] = frozenset()

    @classmethod
    def of_project(cls, project_dir: Path) -> CodeTrust:
        """The trust list kept in ``project_dir``."""
        return cls(Path(project_dir).resolve() / TRUST_FILE)

    def __repr__(self) -> str:
        return f"CodeTrust({str(self.path)!r})"

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise ConfigError(f"cannot read the trust list {self.path}: {e}") from e
        try:
            data = json.loads(raw)
            entries = data["trusted"]
            if not isinstance(entries, dict):
                raise TypeError("'trusted' is not an object")
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            raise ConfigError(
                f"the trust list {self.path} is malformed ({type(e).__name__}: {e}); fix it, "
                "or delete it and trust the code again with `featurestore trust VIEW`"
            ) from e
        return {str(k): v for k, v in entries.items()}

    def entries(self) -> dict[str, Any]:
        """sha256 -> what was trusted (view, how, when), as stored."""
        return self._read()

    def hashes(self) -> frozenset[str]:
        """The trusted sha256 digests, re-read when the file changes."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen, self._hashes = None, frozenset()
            return self._hashes
        except OSError as e:
            raise ConfigError(f"cannot read the trust list {self.path}: {e}") from e
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            self._hashes = frozenset(self._read())
            self._seen = seen
        return self._hashes

    def __call__(self, source: str) -> bool:
        """Whether ``source`` may run here: made by this process, or in the list."""
        return is_local_source(source) or source_hash(source) in self.hashes()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ignore = self.path.parent / ".gitignore"
        if not ignore.exists():  # the list is local state: keep it out of version control
            ignore.write_text("*\n")
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            try:
                import fcntl
            except ImportError:  # not POSIX: writers are not serialized
                yield
                return
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, items: Iterable[tuple[str, str]], how: str) -> list[str]:
        """Trust each ``(view name, source)``; the digests newly added."""
        wanted = {source_hash(src): view for view, src in items}
        if not wanted:
            return []
        with self._locked():
            entries = self._read()
            added = [h for h in wanted if h not in entries]
            if not added:
                return []
            at = datetime.now(UTC).isoformat(timespec="seconds")
            for digest in added:
                entries[digest] = {"view": wanted[digest], "how": how, "at": at}
            data = json.dumps({"format_version": _FORMAT, "trusted": entries}, indent=1)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".trusted-code.")
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(data + "\n")
                os.chmod(tmp, 0o644)  # readable by a server run as another user
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return added

    def add_applied(self, objects: Iterable[object]) -> list[str]:
        """Trust the on-demand sources among ``objects`` that this process made itself."""
        return self.add(
            (
                (o.name, o.udf_source)
                for o in objects
                if isinstance(o, OnDemandFeatureView) and is_local_source(o.udf_source)
            ),
            "applied from the project's Python files",
        )
