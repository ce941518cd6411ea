"""The data directory: where datasets live, and how a missing file is fetched or explained.

``paths.data_dir`` in config (default ``<project>/data``, git-ignored) is overridden by the
environment variable ``XROUTER_DATA_DIR``.  Each dataset config lists its files with an upstream
(a URL or a Hugging Face dataset id + filename) and a SHA-256 checksum.  A missing file is
downloaded on first use when the machine is online (progress bar, checksum verified); offline, the
error names the file, the upstream and the environment variable to set.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from xrouter.config import DATA_DIR_ENV, resolve_data_dir  # noqa: F401  (re-exported)


class DataNotFoundError(FileNotFoundError):
    """A dataset file is neither on disk nor downloadable here."""


class ChecksumError(ValueError):
    """A downloaded file does not match the checksum in its dataset config."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: where it goes under the data dir and where it comes from."""

    path: str
    url: str | None = None
    hf_repo: str | None = None
    hf_filename: str | None = None
    sha256: str | None = None

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> FileSpec:
        return cls(**{k: spec.get(k) for k in ("path", "url", "hf_repo", "hf_filename", "sha256")})

    @property
    def upstream(self) -> str:
        if self.hf_repo:
            return f"Hugging Face dataset {self.hf_repo} (file {self.hf_filename})"
        return self.url or "no upstream recorded"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_file(data_dir: Path, spec: FileSpec, download: bool = True) -> Path:
    """Return the local path of ``spec``, downloading and verifying it first if it is missing."""
    target = Path(data_dir) / spec.path
    if target.exists():
        return target
    problem = "downloads are disabled (data.download=false)"
    if download and (spec.url or spec.hf_repo):
        try:
            _download(spec, target)
            return target
        except ChecksumError:
            raise
        except Exception as error:  # offline, 404, proxy: all end in the same explanation
            problem = f"the download failed ({type(error).__name__}: {str(error)[:200]})"
    raise DataNotFoundError(
        f"missing data file {target}\n"
        f"  upstream: {spec.upstream}\n"
        f"  {problem}.\n"
        f"  Fix: put the file there, or point {DATA_DIR_ENV} (or paths.data_dir=...) at a directory "
        f"that holds '{spec.path}' (this repository's tests use ../shared/data)."
    )


def _download(spec: FileSpec, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        partial = Path(scratch) / target.name
        if spec.hf_repo:
            from huggingface_hub import hf_hub_download  # ships with transformers

            fetched = hf_hub_download(spec.hf_repo, spec.hf_filename, repo_type="dataset", local_dir=scratch)
            shutil.move(fetched, partial)
        else:
            with urllib.request.urlopen(spec.url, timeout=30) as response:  # noqa: S310 (config-given URL)
                total = int(response.headers.get("Content-Length") or 0) or None
                with (
                    open(partial, "wb") as handle,
                    tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {spec.path}") as bar,
                ):
                    for block in iter(lambda: response.read(1 << 16), b""):
                        handle.write(block)
                        bar.update(len(block))
        if spec.sha256:
            actual = sha256_of(partial)
            if actual != spec.sha256:
                raise ChecksumError(
                    f"{spec.upstream}: checksum {actual} does not match {spec.sha256} from the dataset "
                    f"config; the file was not saved to {target}"
                )
        shutil.move(partial, target)
