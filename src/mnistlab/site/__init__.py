"""The static drawing page: `build_site` writes a folder that reads digits in the browser.

- `runtime`: onnxruntime-web's pinned npm tarball, checked against its registry hash and cached.
- `models`: the runs as ONNX bytes and the JSON the page decides with.
- `build`: the folder, written beside its target and renamed into place.
- `static/`: the page; `layout.js` is `mnistlab.data.layout` in JavaScript.
"""

import lazy_loader

# Each name loads its module on first use, so importing the package loads nothing.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "build": ["SiteResult", "build_site"],
        "runtime": ["ORT_VERSION", "ORT_INTEGRITY", "fetch_runtime", "runtime_files"],
    },
)
