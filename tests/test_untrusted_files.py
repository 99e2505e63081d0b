"""What a person can hand mnistlab as a file: every bad one ends in one sentence, bounded.

Images (`load_image`, `predict`): only PNG, JPEG, WebP, BMP, GIF and TIFF are decoded, EPS never
reaches Pillow's plugin (which runs Ghostscript), sizes are refused from the header, a FIFO or a
device is refused before it is read. IDX files (`data add`): a gzip stream is inflated no further
than its header declares, and labels must name the dataset's classes. Hangs and peak memory are
measured in a subprocess with a timeout; the rest runs in process through `mnistlab.cli.main`.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

import mnistlab.inference.image as image_module
from mnistlab.cli import main
from mnistlab.data import write_idx
from mnistlab.data.idx import IDXFormatError, read_idx, read_idx_header
from mnistlab.errors import ImageError
from mnistlab.inference import load_image, preprocess

REPO = Path(__file__).resolve().parents[1]
SHIPPED = (
    "mnistlab: no run directory given: reading with the reader that ships with mnistlab "
    "(made by `mnistlab train cnn --recipe reader --seed 0`)."
)
READS = "export it as PNG, JPEG, WebP, BMP, GIF or TIFF."
# An EPS whose program never ends: Ghostscript would spin on it at 100 % CPU.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\n"
STRIP_ROWS = 50_000_000  # the 97 kB PNG of 1 x 50,000,000 pixels


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("MNISTLAB_DATA", raising=False)


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(capsys, argv: list[str], code: int = 1) -> list[str]:
    """Run a command that must fail: its exit status, no traceback; the stderr lines."""
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    return captured.err.splitlines()


# -- streams built block by block: a bomb costs kilobytes to make ---------------------------


def deflate(parts: list[tuple[bytes, int]]) -> bytes:
    """A raw deflate stream of each (bytes, repeats) in turn, compressing each piece once.

    Every piece is compressed by a fresh compressor and ends in a full flush, so it refers to
    nothing before it and can be repeated as it is.
    """
    out = []
    for data, repeats in parts:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        out.append((compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)) * repeats)
    return b"".join(out) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def gzip_of(parts: list[tuple[bytes, int]]) -> bytes:
    body = deflate(parts)
    crc, size = 0, 0
    for data, repeats in parts:
        for _ in range(repeats):
            crc = zlib.crc32(data, crc)
        size += len(data) * repeats
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", crc, size % 2**32)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of(width: int, height: int, colour: int, rows: list[tuple[bytes, int]] | None) -> bytes:
    """A PNG of 8-bit samples (colour type 0 grey, 2 RGB, 6 RGBA); no pixel data when `rows` is None."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
    idat = b""
    if rows is not None:
        body = deflate(rows)
        adler = 1
        for data, repeats in rows:
            for _ in range(repeats):
                adler = zlib.adler32(data, adler)
        idat = png_chunk(b"IDAT", b"\x78\xda" + body + struct.pack(">I", adler))
    return b"\x89PNG\r\n\x1a\n" + ihdr + idat + png_chunk(b"IEND", b"")


def strip_png() -> bytes:
    """1 x 50,000,000 grey pixels, each row a filter byte and one pixel: white with a black stroke."""
    block = 1 << 20  # bytes: 524,288 rows
    full, rest = divmod(2 * STRIP_ROWS, block)
    rows = [(b"\x00\xff" * (block // 2), full // 2), (b"\x00\x00" * (block // 2), 1)]
    rows += [(b"\x00\xff" * (block // 2), full - full // 2 - 1), (b"\x00\xff" * (rest // 2), 1)]
    return png_of(1, STRIP_ROWS, 0, rows)


def idx_bomb(gib: int = 1) -> bytes:
    """An IDX labels file of shape (300,) whose gzip stream goes on inflating zeros, `gib` GiB of them."""
    header = bytes([0, 0, 8, 1]) + struct.pack(">I", 300)
    return gzip_of([(header + bytes(300), 1), (bytes(1 << 20), 1024 * gib)])


def seven(mode: str = "L") -> Image.Image:
    image = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(image).line([(15, 25), (95, 25), (45, 145)], fill=0, width=14)
    return image.convert(mode)


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


# -- formats: only rasters, and never a helper program --------------------------------------


def test_postscript_is_refused_and_neither_its_plugin_nor_a_program_runs(tmp_path, capsys, monkeypatch):
    import subprocess as subprocess_module

    Image.init()
    consulted: list[str] = []
    _, accept = Image.OPEN["EPS"]

    def spy_accept(prefix: bytes) -> bool:
        consulted.append("accept")
        return accept(prefix)

    def spy_factory(fp, filename):
        consulted.append("open")
        raise SyntaxError("the EPS plugin was asked to open the file")

    def no_program(*args, **kwargs):
        consulted.append("program")
        raise AssertionError(f"a program was started: {args}")

    monkeypatch.setitem(Image.OPEN, "EPS", (spy_factory, spy_accept))
    monkeypatch.setattr(subprocess_module, "Popen", no_program)
    # The spies see Pillow's default open, which tries every plugin: so they would see ours.
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(EPS))
    assert consulted == ["accept", "open"]
    consulted.clear()

    (tmp_path / "loop.eps").write_bytes(EPS)
    (tmp_path / "drawing.ps").write_bytes(b"%!PS-Adobe-3.0\n{ } loop\n")
    (tmp_path / "page.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    (tmp_path / "photo.ppm").write_bytes(encoded(seven("RGB"), "PPM"))
    before = files_in(tmp_path)
    names = [str(tmp_path / n) for n in ("loop.eps", "drawing.ps", "page.pdf", "photo.ppm")]
    assert refused(capsys, ["predict", *names]) == [
        SHIPPED,
        f"mnistlab: error: Image {names[0]} is a PostScript (EPS/PS) file, not an image format mnistlab reads; {READS}",
        f"mnistlab: error: Image {names[1]} is a PostScript (EPS/PS) file, not an image format mnistlab reads; {READS}",
        f"mnistlab: error: Image {names[2]} is a PDF file, not an image format mnistlab reads; {READS}",
        f"mnistlab: error: Image {names[3]} is in PPM format, not one mnistlab reads; {READS}",
    ]
    # The binary EPS header (DOS EPS) too, and as bytes, as the server passes them.
    with pytest.raises(ImageError) as info:
        load_image(b"\xc5\xd0\xd3\xc6" + bytes(26) + EPS, name="The upload")
    assert (
        str(info.value)
        == f"The upload is a PostScript (EPS) file, not an image format mnistlab reads; {READS}"
    )
    assert consulted == []
    assert files_in(tmp_path) == before


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_each_raster_format_reads_as_the_same_digit(fmt) -> None:
    expected = preprocess(seven())
    image = load_image(encoded(seven("RGB" if fmt == "JPEG" else "L"), fmt))
    assert image.format == fmt and image.size == (120, 160)
    digit = preprocess(image)
    if fmt in ("JPEG", "WEBP"):  # lossy: the same digit, up to compression noise
        assert np.abs(digit.astype(int) - expected).mean() < 4
    else:
        assert np.array_equal(digit, expected)


# -- sizes, from the header --------------------------------------------------------------


def test_a_strip_of_fifty_million_pixels_is_refused_from_its_header(tmp_path, capsys) -> None:
    data = strip_png()
    assert len(data) < 120_000  # the kilobytes that would have cost half a gigabyte
    with Image.open(io.BytesIO(data)) as header:
        assert header.size == (1, STRIP_ROWS)
    path = tmp_path / "strip.png"
    path.write_bytes(data)
    assert refused(capsys, ["predict", str(path)]) == [
        SHIPPED,
        f"mnistlab: error: Image {path} is 1x50000000 pixels, longer than the limit of 20,000 pixels a side; "
        "crop it to the writing.",
    ]


def test_decoded_bytes_are_bounded_from_the_header_and_a_phone_photo_fits() -> None:
    # 49 MP is under the pixel limit, but as RGBA it would decode to 196 MB.
    with pytest.raises(ImageError) as info:
        load_image(png_of(7000, 7000, 6, None))
    assert str(info.value) == (
        "The image would decode to 196,000,000 bytes (7000x7000, mode RGBA), more than the limit of "
        "150,000,000; downscale it or save it with 8 bits per channel."
    )
    # A 48 MP phone photo passes every size check and is decoded: here it has no pixel data.
    for width, height in [(8000, 6000), (6000, 8000), (20_000, 2_500)]:
        with pytest.raises(ImageError, match=r"^The image is truncated or corrupt \("):
            load_image(png_of(width, height, 2, None))


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path, capsys) -> None:
    path = tmp_path / "scan.tif"
    with open(path, "wb") as f:
        f.truncate(image_module.MAX_FILE_BYTES + 1)  # sparse: nothing is written to disk
    assert refused(capsys, ["predict", str(path)]) == [
        SHIPPED,
        f"mnistlab: error: Image {path} is 160,000,001 bytes, more than the limit of 160,000,000 for an "
        "image file; downscale it or save it as a JPEG.",
    ]


# -- pixels that are no grey level ---------------------------------------------------------


def test_a_float_tiff_with_nan_pixels_is_named_not_read_as_blank(tmp_path, capsys) -> None:
    ink = np.asarray(seven(), dtype=np.float32) / 255.0  # a float TIFF on 0..1
    assert preprocess(Image.fromarray(ink)).max() == 255  # finite, it is a digit
    ink[3, 4], ink[50, 60], ink[70, 80] = np.nan, np.inf, -np.inf
    path = tmp_path / "float.tif"
    Image.fromarray(ink).save(path)
    assert Image.open(path).mode == "F"
    sentence = (
        "has 3 NaN or infinite pixels of 19,200; replace them with finite values (the background's) "
        "and save it again."
    )
    assert refused(capsys, ["predict", str(path)]) == [SHIPPED, f"mnistlab: error: Image {path} {sentence}"]
    with pytest.raises(ImageError) as info:
        preprocess(Image.fromarray(ink))  # a library caller's own image: the same sentence
    assert str(info.value) == f"The image {sentence}"


# -- files that are not files, and where predict writes ------------------------------------------


def test_save_preprocessed_onto_a_file_is_refused_before_anything_is_read(tmp_path, capsys) -> None:
    seven().save(tmp_path / "digit.png")
    (tmp_path / "taken").write_text("my notes\n")
    before = files_in(tmp_path)
    image = str(tmp_path / "digit.png")
    for target, sentence in [
        ("taken", "is a file, not a folder; pass a folder (it is made if missing)."),
        ("taken/seen", f"cannot be made: {tmp_path / 'taken'} is a file, not a folder."),
    ]:
        out = str(tmp_path / target)
        lines = refused(capsys, ["predict", image, "--save-preprocessed", out], code=2)
        assert lines == [
            f"mnistlab: error: --save-preprocessed {out} {sentence}"
        ]  # not even the reader's note
    assert files_in(tmp_path) == before


def test_a_directory_is_still_named_as_one(tmp_path, capsys) -> None:
    (tmp_path / "photos.png").mkdir()
    with pytest.raises(ImageError) as info:
        load_image(tmp_path / "photos.png")
    assert (
        str(info.value)
        == f"Image {tmp_path / 'photos.png'} is a directory; pass an image file such as a PNG or JPEG."
    )


SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, resource, sys
    from mnistlab.data.idx import read_idx
    from mnistlab.errors import MnistlabError
    from mnistlab.inference.digits import image_ink
    from mnistlab.inference.image import load_image

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB

    strip, bomb, fifo, classes_fifo, folder = sys.argv[1:6]
    result = {}
    for key, read in [("strip", lambda: image_ink(load_image(strip))), ("bomb", lambda: read_idx(bomb))]:
        base = peak_mb()
        try:
            read()
            result[key] = ["read", 0]
        except MnistlabError as exc:
            result[key] = [str(exc), peak_mb() - base]
    for key, read in [("fifo image", lambda: load_image(fifo)), ("fifo idx", lambda: read_idx(fifo))]:
        try:
            read()
        except MnistlabError as exc:
            result[key] = str(exc)
    from mnistlab.cli import main

    for key, argv in [
        ("predict", ["predict", fifo, "/dev/zero"]),
        ("classes fifo", ["data", "add", "mine", folder, "--classes-file", classes_fifo]),
        ("classes zero", ["data", "add", "mine", folder, "--classes-file", "/dev/zero"]),
    ]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(argv)
        result[key] = [code, err.getvalue().splitlines()]
    print(json.dumps(result))
    """
)


def test_pipes_devices_and_bombs_end_in_a_sentence_without_hanging_or_memory(tmp_path) -> None:
    """In a fresh process with a timeout: a FIFO would block its reader, /dev/zero never ends,
    and the peak resident memory is the process's own."""
    (tmp_path / "strip.png").write_bytes(strip_png())
    (tmp_path / "labels.gz").write_bytes(idx_bomb())
    os.mkfifo(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "classes.txt")
    folder = tmp_path / "mine"
    folder.mkdir()
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), "PYTHONPATH": str(REPO / "src")}
    names = [str(tmp_path / n) for n in ("strip.png", "labels.gz", "pipe.png", "classes.txt")]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *names, str(folder)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    strip, bomb, fifo = names[:3]

    message, growth = result["strip"]
    assert message.startswith(f"Image {strip} is 1x50000000 pixels, longer than the limit")
    assert growth < 100, growth  # MB; it was ~480 before the side limit
    message, growth = result["bomb"]
    assert message == (
        f"{bomb} inflates to more than the 308 bytes its IDX header declares (shape (300,)); "
        "it is corrupt or not an IDX file."
    )
    assert growth < 100, growth  # MB, of a stream that inflates to 1 GiB
    assert result["fifo image"] == (
        f"Image {fifo} is a named pipe (FIFO), not a regular file; pass an image file such as a PNG or JPEG."
    )
    assert (
        result["fifo idx"]
        == f"IDX file {fifo} is a named pipe (FIFO), not a regular file; pass the file itself."
    )
    assert result["predict"] == [
        1,
        [
            SHIPPED,
            f"mnistlab: error: Image {fifo} is a named pipe (FIFO), not a regular file; "
            "pass an image file such as a PNG or JPEG.",
            "mnistlab: error: Image /dev/zero is a character device, not a regular file; "
            "pass an image file such as a PNG or JPEG.",
        ],
    ]
    assert result["classes fifo"] == [
        1,
        [
            f"mnistlab: error: Classes file {names[3]} is a named pipe (FIFO), not a regular file; pass a text file."
        ],
    ]
    assert result["classes zero"] == [
        1,
        [
            "mnistlab: error: Classes file /dev/zero is a character device, not a regular file; pass a text file."
        ],
    ]
    assert not (tmp_path / "xdg-config").exists()


# -- IDX: bounded by the header, labels within the classes --------------------------------


def idx_folder(folder: Path, labels: np.ndarray | None = None) -> Path:
    rng = np.random.default_rng(3)
    folder.mkdir()
    train = rng.integers(0, 10, 300, dtype=np.uint8) if labels is None else labels
    train[:10] = np.arange(10)  # every class has training images
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (300, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz", train)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (50, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 50, dtype=np.uint8))
    return folder


def test_data_add_stops_a_gzip_that_inflates_past_its_header(tmp_path, capsys) -> None:
    folder = idx_folder(tmp_path / "mine")
    bomb = folder / "train-labels-idx1-ubyte.gz"
    bomb.write_bytes(idx_bomb())
    assert read_idx_header(bomb) == (np.dtype(np.uint8), (300,))  # the header alone, at once
    assert refused(capsys, ["data", "add", "mine", str(folder)]) == [
        f"mnistlab: error: {bomb} inflates to more than the 308 bytes its IDX header declares (shape (300,)); "
        "it is corrupt or not an IDX file."
    ]
    assert not (tmp_path / "xdg-config").exists()


def test_a_header_that_lies_about_its_size_costs_only_what_arrives() -> None:
    for shape, sentence in [
        (
            (4_000_000_000,),
            "is truncated: shape (4000000000,) expected 4000000000 bytes of payload, found 3.",
        ),
        (
            (2**32 - 1,) * 3,
            f"declares shape {(2**32 - 1,) * 3}, {(2**32 - 1) ** 3:,} bytes, more than this machine can hold.",
        ),
    ]:
        header = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
        for data in (header + b"abc", gzip_of([(header + b"abc", 1)])):
            with pytest.raises(IDXFormatError) as info:
                read_idx(io.BytesIO(data), name="lies.idx")
            assert str(info.value) == f"lies.idx {sentence}"


def test_data_add_names_the_first_label_outside_the_given_classes(tmp_path, capsys) -> None:
    labels = np.random.default_rng(5).integers(0, 10, 300, dtype=np.uint8)
    labels[[17, 40]] = 11, 10
    folder = idx_folder(tmp_path / "mine", labels)
    assert refused(capsys, ["data", "add", "mine", str(folder), "--classes", ",".join("abcdefghij")]) == [
        f"mnistlab: error: {folder / 'train-labels-idx1-ubyte.gz'} holds label 11, but only 10 classes were "
        "given (labels 0-9): the first label outside them is at index 17; name every class with --classes "
        "or --classes-file."
    ]
    assert not (tmp_path / "xdg-config").exists()


def test_data_add_without_names_refuses_a_label_past_a_class_with_no_images(tmp_path, capsys) -> None:
    labels = np.random.default_rng(5).integers(0, 10, 300, dtype=np.uint8)
    labels[123] = 11  # ten digits and one stray 11: not a twelve-class dataset
    folder = idx_folder(tmp_path / "mine", labels)
    assert refused(capsys, ["data", "add", "mine", str(folder)]) == [
        f"mnistlab: error: {folder / 'train-labels-idx1-ubyte.gz'} holds label 11 at index 123, but no "
        "training image has label 10; labels number the classes 0, 1, 2, ... with images of each, or name "
        "every class with --classes or --classes-file."
    ]
    assert not (tmp_path / "xdg-config").exists()
    # With twelve names the same files are a twelve-class dataset, as the person says.
    assert main(["data", "add", "mine", str(folder), "--classes", ",".join("abcdefghijkl")]) == 0
    assert "12 classes" in capsys.readouterr().out


# -- the loader under random and damaged bytes ---------------------------------------------------


def exif_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on reading
    buffer = io.BytesIO()
    seven("RGB").resize((24, 32)).save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


# A small file of each format read, in a mode of its own; a JPEG whose EXIF rotates it.
SMALL = seven().resize((24, 32))
SEEDS = {
    fmt: encoded(SMALL.convert(mode), fmt)
    for fmt, mode in [("PNG", "LA"), ("JPEG", "RGB"), ("WEBP", "RGB"), ("BMP", "P"), ("GIF", "L")]
} | {
    "TIFF": encoded(Image.fromarray(np.asarray(SMALL).astype(np.uint16) * 257), "TIFF"),  # 16-bit grey
    "JPEG+EXIF": exif_jpeg(),
}


@st.composite
def damaged(draw) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "big", "cut", "insert"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "big":  # a header field (a width, a height, a length) made huge
            data[at : at + 4] = draw(
                st.sampled_from([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x01\x00\x00"])
            )
        elif kind == "cut":
            del data[at:]
            if not data:
                data.append(0)
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


def assert_image_or_sentence(data: bytes) -> None:
    try:
        image = load_image(data)
    except ImageError as exc:
        assert str(exc).startswith("The image ") and str(exc).endswith("."), exc
        return
    width, height = image.size
    assert 0 < width * height <= image_module.MAX_PIXELS and max(width, height) <= image_module.MAX_SIDE
    assert image_module.decoded_bytes(image) <= image_module.MAX_DECODED_BYTES
    try:
        digit = preprocess(image)  # what predict does next: a digit or a sentence, nothing else
    except ImageError:
        return
    assert digit.shape == (28, 28) and digit.dtype == np.uint8


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_images_read_or_end_in_a_sentence(data: bytes) -> None:
    assert_image_or_sentence(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=256))
def test_random_bytes_end_in_a_sentence(data: bytes) -> None:
    assert_image_or_sentence(data)


def test_the_seeds_are_read() -> None:
    for name, data in SEEDS.items():
        image = load_image(data)
        assert image.format == name.removesuffix("+EXIF") and preprocess(image).max() == 255
