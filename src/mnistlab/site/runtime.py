"""onnxruntime-web for the static page: one pinned npm release, checked before any file is used.

The page runs the models with onnxruntime-web's WebAssembly build (no WebGPU, WebGL or JSEP
files): `ort.wasm.min.mjs`, the module it imports (`ort-wasm-simd-threaded.mjs`) and the
WebAssembly binary. They come from the npm tarball of ORT_VERSION, whose SHA-512 must equal the
registry's `dist.integrity` for that version (Subresource Integrity form, "sha512-" + base64),
kept below. The tarball is downloaded once into the user cache ($XDG_CACHE_HOME/mnistlab/
onnxruntime-web/), through a hidden part file renamed only when its hash matches, as the
datasets are (`mnistlab.data.download`); `--runtime TARBALL` uses a local copy instead.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import secrets
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from mnistlab.data.verify import cache_root
from mnistlab.errors import SiteError

ORT_PACKAGE = "onnxruntime-web"
ORT_VERSION = "1.31.1"  # `npm view onnxruntime-web@1.31.1 dist.integrity`, December 2026
ORT_INTEGRITY = (
    "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
)
ORT_URL = f"https://registry.npmjs.org/{ORT_PACKAGE}/-/{ORT_PACKAGE}-{ORT_VERSION}.tgz"
# package/dist/<name> in the tarball -> ort/<name> in the site, with package/package.json.
RUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
LICENSE_FILE = "package.json"  # names the version and the licence (MIT); the tarball has no LICENSE
_CHUNK = 1 << 16  # bytes per read from the network


def integrity(data: bytes) -> str:
    """npm's `dist.integrity` of a tarball: "sha512-" and the base64 of its SHA-512 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def cached_tarball() -> Path:
    """Where the pinned tarball is kept: $XDG_CACHE_HOME/mnistlab/onnxruntime-web/<name>.tgz."""
    return cache_root() / ORT_PACKAGE / f"{ORT_PACKAGE}-{ORT_VERSION}.tgz"


def fetch_runtime(*, url: str = ORT_URL, expected: str = ORT_INTEGRITY, timeout: float = 60.0) -> Path:
    """The cached tarball, downloaded from `url` first when it is absent or does not match
    `expected`. Raises SiteError when the download fails or its hash differs."""
    target = cached_tarball()
    if target.is_file() and integrity(target.read_bytes()) == expected:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SiteError(
            f"Cannot create the cache folder {target.parent} ({e.strerror}); make it writable, "
            "or pass a downloaded tarball with --runtime TARBALL."
        ) from None
    part = target.parent / f".{target.name}.part-{secrets.token_hex(4)}"
    try:
        data = _download(url, timeout)
        if integrity(data) != expected:
            raise SiteError(_mismatch(url))
        part.write_bytes(data)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)  # a no-op once renamed
    return target


def _download(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "mnistlab"})
    body = io.BytesIO()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                body.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise SiteError(
            f"Could not download {ORT_PACKAGE} {ORT_VERSION} from {url} ({reason}); download it "
            f"elsewhere (`npm pack {ORT_PACKAGE}@{ORT_VERSION}`) and pass it with --runtime TARBALL."
        ) from None
    return body.getvalue()


def _mismatch(source: str | Path) -> str:
    return (
        f"{source} is not {ORT_PACKAGE} {ORT_VERSION}: its SHA-512 differs from the npm registry's "
        f"dist.integrity {ORT_INTEGRITY}; pass the tarball of `npm pack {ORT_PACKAGE}@{ORT_VERSION}`."
    )


def runtime_files(tarball: str | Path, *, expected: str = ORT_INTEGRITY) -> dict[str, bytes]:
    """The page's runtime files (name -> bytes) from a tarball whose hash is `expected`.

    Raises SiteError for a missing or unreadable file, another hash, or a tarball lacking a file.
    """
    path = Path(tarball)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SiteError(
            f"Cannot read the runtime tarball {path} ({e.strerror}); pass the file of "
            f"`npm pack {ORT_PACKAGE}@{ORT_VERSION}` with --runtime TARBALL."
        ) from None
    if integrity(data) != expected:
        raise SiteError(_mismatch(path))
    wanted = {f"package/dist/{name}": name for name in RUNTIME_FILES} | {
        f"package/{LICENSE_FILE}": LICENSE_FILE
    }
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                name = wanted.get(member.name)
                if name is not None and member.isfile():
                    files[name] = archive.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as e:
        raise SiteError(f"The runtime tarball {path} is damaged ({e}); download it again.") from None
    missing = sorted(set(wanted.values()) - set(files))
    if missing:
        raise SiteError(
            f"The runtime tarball {path} lacks {', '.join(missing)}; pass the tarball of "
            f"`npm pack {ORT_PACKAGE}@{ORT_VERSION}`."
        )
    return files
