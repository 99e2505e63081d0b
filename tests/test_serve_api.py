"""`mnistlab serve`'s API, through FastAPI's test client, against independent computations.

Every answer is checked against a forward pass written out here (model -> softmax of the
logits over the temperature in the run's calibration.json, max-softmax against its threshold),
on the input that `mnistlab.inference.digits` pre-processing gives; a number against where its
digits were put and what `mnistlab predict` reads; every bad request must be a 4xx JSON error
of one sentence, never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("python_multipart")

from fastapi.testclient import TestClient
from PIL import Image

from mnistlab import cli
from mnistlab.commands import serve as serve_command
from mnistlab.config import TrainConfig, resolve_config
from mnistlab.data import Dataset, Split, normalize
from mnistlab.inference import load_image, preprocess, preprocess_intensities
from mnistlab.inference.number import number_fields, read_number
from mnistlab.models.pretrained import reader_run
from mnistlab.reader import Reader
from mnistlab.recipes import RECIPES
from mnistlab.runs.checkpoint import read_results
from mnistlab.serve import (
    API_VERSION,
    MAX_BODY_BYTES,
    Predictor,
    ServedModel,
    create_app,
    first_start,
    latest_finished_runs,
    load_served_models,
)
from mnistlab.serve.app import STATIC_DIR
from mnistlab.serve.bodies import Upload
from mnistlab.serve.errors import BodyLimit

LOCAL = "http://127.0.0.1"  # the test client's Host: the server answers loopback names only


@pytest.fixture(scope="module")
def served(softmax_run: Path, cnn_run: Path) -> list[ServedModel]:
    return load_served_models([softmax_run, cnn_run])


@pytest.fixture(scope="module")
def client(served: list[ServedModel]) -> Iterator[TestClient]:
    with TestClient(create_app(served), base_url=LOCAL, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def digits(mnist: Dataset) -> np.ndarray:
    """The first eight test digits, (8, 28, 28) uint8, light on dark."""
    return mnist.test.images[:8].numpy()


def calibration_file(run_dir: Path) -> dict:
    return json.loads((run_dir / "calibration.json").read_text(encoding="utf-8"))


def reference(served: list[ServedModel], digit: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's calibrated probabilities for a pre-processed digit, by a plain forward pass
    and the temperature read from the run's calibration.json."""
    x = normalize(torch.from_numpy(digit)[None])
    expected = {}
    for s in served:
        temperature = calibration_file(s.run_dir)["temperature"]
        with torch.no_grad():
            expected[s.name] = torch.softmax(s.model(x).double() / temperature, dim=1)[0].numpy()
    return expected


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def as_drawing(digit: np.ndarray) -> np.ndarray:
    """A test digit as someone would draw it: dark ink on white, 10x larger, off-centre."""
    paper = np.full((320, 300), 255, dtype=np.uint8)
    paper[30:310, 5:285] = 255 - np.kron(digit, np.ones((10, 10), dtype=np.uint8))
    return paper


# The keys of every model's answer and of each of its digits, however many digits it holds.
ANSWER_KEYS = {"name", "number", "abstain", "reason", "digits", "dropped", "ms"}
DIGIT_KEYS = {"box", "label", "class", "probability", "abstain", "score", "threshold", "reason", "top"}
DIGIT_KEYS |= {"probabilities", "input"}


def assert_answer(body: dict, served: list[ServedModel], seen: np.ndarray) -> None:
    """A one-digit answer: a number of one digit, read as a plain forward pass reads `seen`."""
    assert set(body) == {"api_version", "models", "ms"} and body["api_version"] == API_VERSION == "2"
    expected = reference(served, seen)
    assert [m["name"] for m in body["models"]] == ["softmax", "cnn"]
    for answer, model in zip(body["models"], served, strict=True):
        assert set(answer) == ANSWER_KEYS
        (digit,) = answer["digits"]
        assert set(digit) == DIGIT_KEYS
        assert np.array_equal(np.array(digit["input"], dtype=np.uint8), seen)
        probabilities = np.array(digit["probabilities"])
        np.testing.assert_allclose(probabilities, expected[answer["name"]], rtol=1e-5, atol=1e-9)
        assert abs(probabilities.sum() - 1.0) < 1e-9
        best = int(np.argmax(expected[answer["name"]]))
        assert digit["top"][0] == [best, digit["probability"]] and digit["probability"] == max(probabilities)
        assert answer["ms"] >= 0.0
        rule = calibration_file(model.run_dir)["rule"]
        assert rule["score"] == "msp"  # what training fits by default; the reference below is its score
        assert digit["score"] == pytest.approx(expected[answer["name"]].max(), rel=1e-6)
        assert digit["threshold"] == rule["threshold"]
        assert digit["abstain"] == answer["abstain"] == (digit["score"] < rule["threshold"])
        assert digit["label"] == (None if digit["abstain"] else best)
        assert (digit["reason"] is None) == (answer["reason"] is None) == (not digit["abstain"])
        assert answer["number"] == (None if answer["abstain"] else str(best)) and answer["dropped"] == 0


def assert_one_sentence_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    message = body["error"]
    assert "\n" not in message
    assert message[0].isupper() or message[0] == "'", message
    assert len(re.findall(r"[.!?](?:\s|$)", message)) == 1 and message.endswith("."), message
    return message


# -- the read-only routes --------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "models": 2, "api_version": "2"}


def test_models_report_their_runs(client: TestClient, softmax_run: Path, cnn_run: Path) -> None:
    models = client.get("/api/models").json()["models"]
    assert [(m["name"], m["kind"], m["recipe"]) for m in models] == [
        ("softmax", "softmax", "softmax"),
        ("cnn", "cnn", "cnn"),
    ]
    for model, run_dir in zip(models, (softmax_run, cnn_run), strict=True):
        assert model["accuracy"] == read_results(run_dir)["test_accuracy"]
        assert model["run"] == run_dir.name
        saved = calibration_file(run_dir)
        assert model["temperature"] == saved["temperature"] != 1.0
        assert (model["score"], model["threshold"], model["quantile"], model["fitted_on"]) == (
            saved["rule"]["score"],
            saved["rule"]["threshold"],
            saved["rule"]["quantile"],
            saved["rule"]["fitted_on"],
        )
        assert model["calibrated"] is True and model["refusal"] == "not a digit"
        assert model["fitted_on"].startswith("mnist validation split")


def test_page_and_assets_come_from_the_package(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="pad"' in page.text and "/static/app.js" in page.text
    for name in ("index.html", "app.js", "style.css"):
        served_text = client.get(f"/static/{name}").text
        assert served_text == (STATIC_DIR / name).read_text(encoding="utf-8")
        # Nothing fetched from the internet: no absolute or protocol-relative URL at all.
        assert not re.search(r"https?:|[\"'(]//", served_text), name


def test_openapi_describes_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/models", "/healthz"} <= set(schema["paths"])
    assert schema["info"]["version"] == API_VERSION  # the version of the answers' shape
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    docs = client.get("/docs")
    assert docs.status_code == 200
    # The Swagger UI page loads its script and style from the package, not from a CDN.
    assert not re.search(r"https?:", docs.text)
    for asset in re.findall(r"(/docs-assets/[\w.-]+)", docs.text):
        assert client.get(asset).status_code == 200, asset
    assert len(re.findall(r"/docs-assets/", docs.text)) == 2


# -- predictions -------------------------------------------------------------------------------


def test_predict_pixels(client: TestClient, served: list[ServedModel], digits: np.ndarray) -> None:
    digit = digits[0]
    seen = preprocess_intensities(digit)
    for payload in ({"pixels": digit.tolist()}, digit.tolist(), {"pixels": (digit / 255.0).tolist()}):
        response = client.post("/api/predict", json=payload)
        assert response.status_code == 200, response.text
        assert_answer(response.json(), served, seen)


def test_predict_png_every_way(client: TestClient, served: list[ServedModel], digits: np.ndarray) -> None:
    png = png_bytes(as_drawing(digits[1]))
    seen = preprocess(load_image(png))  # what `mnistlab predict` makes of the same file
    data_url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    answers = [
        client.post("/api/predict", files={"image": ("digit.png", png, "image/png")}),
        client.post("/api/predict", files={"file": ("digit.png", png, "image/png")}),  # curl -F file=@...
        client.post("/api/predict", json={"image": data_url}),
        client.post("/api/predict", content=png, headers={"content-type": "image/png"}),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        assert_answer(response.json(), served, seen)


def test_concurrent_requests_get_exact_answers(
    client: TestClient, served: list[ServedModel], digits: np.ndarray
) -> None:
    expected = [reference(served, preprocess_intensities(d)) for d in digits]

    def ask(i: int) -> tuple[int, dict]:
        response = client.post("/api/predict", json={"pixels": digits[i % len(digits)].tolist()})
        assert response.status_code == 200, response.text
        return i % len(digits), response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ask, range(32)))
    for i, body in results:
        for answer in body["models"]:
            np.testing.assert_allclose(
                answer["digits"][0]["probabilities"], expected[i][answer["name"]], rtol=1e-5, atol=1e-9
            )


def test_predictor_from_many_threads(served: list[ServedModel], digits: np.ndarray) -> None:
    predictor = Predictor(served)
    seen = [Upload(values=d.astype(np.float32)) for d in digits]

    def probabilities(answers: list) -> list:
        return [[d.reading.prediction.probabilities for d in a.reading.digits] for a in answers]

    sequential = [probabilities(predictor.read(u, single=True)) for u in seen]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(
            pool.map(lambda i: probabilities(predictor.read(seen[i % 8], single=True)), range(64))
        )
    for i, answers in enumerate(parallel):
        assert answers == sequential[i % 8]


def test_one_forward_pass_per_model_per_request(
    client: TestClient, served: list[ServedModel], digits: np.ndarray
) -> None:
    calls = {s.name: 0 for s in served}
    hooks = [
        s.model.register_forward_hook(lambda *_, name=s.name: calls.__setitem__(name, calls[name] + 1))
        for s in served
    ]
    try:
        assert client.post("/api/predict", json={"pixels": digits[2].tolist()}).status_code == 200
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == {"softmax": 1, "cnn": 1}


def with_rule(served: ServedModel, **changes: object) -> ServedModel:
    """`served` with its abstention rule changed, e.g. a threshold nothing reaches."""
    rule = dataclasses.replace(served.reader.rule, **changes)
    return dataclasses.replace(served, reader=dataclasses.replace(served.reader, rule=rule))


def test_an_abstaining_model_says_why_and_keeps_its_probabilities(
    served: list[ServedModel], digits: np.ndarray
) -> None:
    # msp is at most 1, so a threshold of 1.5 refuses everything; a threshold of -inf nothing.
    refusing = with_rule(served[0], threshold=1.5)
    answering = with_rule(served[1], score="energy", threshold=-float("inf"))
    seen = preprocess_intensities(digits[3])
    with TestClient(
        create_app([refusing, answering]), base_url=LOCAL, raise_server_exceptions=False
    ) as test_client:
        listed = test_client.get("/api/models").json()["models"]
        body = test_client.post("/api/predict", json={"pixels": digits[3].tolist()}).json()
    assert [(m["score"], m["threshold"]) for m in listed] == [("msp", 1.5), ("energy", None)]
    (no,), (yes,) = (m["digits"] for m in body["models"])
    expected = reference(served, seen)
    np.testing.assert_allclose(no["probabilities"], expected["softmax"], rtol=1e-5, atol=1e-9)
    assert (
        no["abstain"] is True
        and no["label"] is None
        and no["top"][0][0] == int(np.argmax(expected["softmax"]))
    )
    assert no["reason"] == f"not a digit: msp {no['score']:.3f} is below the threshold 1.500"
    assert body["models"][0]["reason"] == f"digit 1 of 1: {no['reason']}"
    assert body["models"][0]["abstain"] is True and body["models"][0]["number"] is None
    assert yes["abstain"] is False and yes["label"] == yes["top"][0][0]
    assert yes["threshold"] is None  # -inf, which JSON cannot hold
    x = normalize(torch.from_numpy(seen)[None])
    with torch.no_grad():
        z = served[1].model(x).double() / served[1].reader.temperature
    assert yes["score"] == pytest.approx(
        float(served[1].reader.temperature * torch.logsumexp(z, 1)), rel=1e-9
    )


def test_an_uncalibrated_run_answers_everything_with_the_raw_softmax(
    softmax_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = shutil.copytree(softmax_run, tmp_path / "old-softmax")
    (old / "calibration.json").unlink()  # a run trained before calibration existed
    (model,) = load_served_models([old])
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (28, 28)).tolist() for _ in range(4)]
    with TestClient(create_app([model]), base_url=LOCAL) as test_client:
        (listed,) = test_client.get("/api/models").json()["models"]
        bodies = [test_client.post("/api/predict", json={"pixels": p}).json() for p in noise]
    assert (listed["calibrated"], listed["temperature"], listed["threshold"], listed["fitted_on"]) == (
        False,
        1.0,
        0.0,
        "none",
    )
    for body in bodies:
        (answer,) = body["models"][0]["digits"]
        x = normalize(torch.from_numpy(np.array(answer["input"], dtype=np.uint8))[None])
        with torch.no_grad():
            plain = torch.softmax(model.model(x).double(), dim=1)[0].numpy()
        np.testing.assert_allclose(answer["probabilities"], plain, rtol=1e-5, atol=1e-9)
        assert (
            answer["abstain"] is False and answer["label"] == answer["top"][0][0] and answer["reason"] is None
        )
        assert body["models"][0]["number"] == str(answer["label"])
    # `mnistlab serve` says so in one line at start-up.
    captured = capture_uvicorn(monkeypatch)
    assert cli.main(["serve", str(old), "--port", str(free_port())]) == 0
    assert captured["app"] is not None
    notes = [line for line in capsys.readouterr().err.splitlines() if "no calibration.json" in line]
    assert len(notes) == 1 and "mnistlab calibrate" in notes[0]


# -- numbers: every digit read, left to right ----------------------------------------------------


def narrow_digits(mnist: Dataset, labels: str) -> list[np.ndarray]:
    """Test digits with these labels, cropped to their ink, each narrower than 0.8 of its height
    (so none is tried as two touching digits)."""
    images, truth = mnist.test.images.numpy(), mnist.test.labels.numpy()
    crops = []
    for label in map(int, labels):
        for i in np.flatnonzero(truth == label):
            rows, cols = np.flatnonzero(images[i].any(axis=1)), np.flatnonzero(images[i].any(axis=0))
            crop = images[i][rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            if crop.shape[1] < 0.8 * crop.shape[0] and not any(np.array_equal(crop, c) for c in crops):
                crops.append(crop)
                break
    return crops


def number_image(crops: list[np.ndarray], gap: int, scale: int) -> tuple[np.ndarray, list[tuple]]:
    """Dark digits on white paper, `gap` px apart, `scale` times larger, and each digit's ink box."""
    height = max(c.shape[0] for c in crops) + 16
    width = sum(c.shape[1] for c in crops) + gap * (len(crops) - 1) + 16
    field, boxes, left = np.zeros((height, width), dtype=np.uint8), [], 8
    for crop in crops:
        top = (height - crop.shape[0]) // 2
        field[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
        boxes.append(tuple(scale * v for v in (left, top, left + crop.shape[1], top + crop.shape[0])))
        left += crop.shape[1] + gap
    return 255 - np.kron(field, np.ones((scale, scale), dtype=np.uint8)), boxes


def test_a_number_is_read_digit_by_digit_as_predict_reads_it(
    client: TestClient, served: list[ServedModel], mnist: Dataset
) -> None:
    paper, boxes = number_image(narrow_digits(mnist, "2071"), gap=12, scale=3)
    png = png_bytes(paper)
    body = client.post("/api/predict", files={"image": ("n.png", png, "image/png")}).json()
    for answer, model in zip(body["models"], served, strict=True):
        expected = number_fields(read_number(model.reader, load_image(png)), model.reader)
        digits = answer["digits"]
        assert len(digits) == 4 and answer["dropped"] == 0
        for digit, box, want in zip(digits, boxes, expected["digits"], strict=True):
            # The box is the digit's ink in the upload's own pixels, less the faintest edge
            # pixels that cleaning the ink drops (at most 2 of the digit's own, 6 at scale 3).
            assert all(abs(a - b) <= 6 for a, b in zip(digit["box"], box, strict=True)), (digit["box"], box)
            assert {k: v for k, v in digit.items() if k != "input"} == want
            assert sum(digit["probabilities"]) == pytest.approx(1.0)
        assert answer["number"] == expected["number"]
        if not any(d["abstain"] for d in digits):
            assert answer["number"] == "".join(d["class"] for d in digits)
        # The same keys as a one-digit answer; `abstain` says whether any digit is refused.
        assert set(answer) == ANSWER_KEYS and all(set(d) == DIGIT_KEYS for d in digits)
        assert answer["abstain"] == any(d["abstain"] for d in digits)
        assert {k: v for k, v in answer.items() if k not in ("name", "ms", "digits")} == {
            k: v for k, v in expected.items() if k != "digits"
        }
    # The image is these four clear digits: the shipped reader (99.4 % test) reads them so; the
    # served 300-step CNN's reading is checked above against the library, not against the truth.
    shipped = Reader.from_run(reader_run())
    assert read_number(shipped, load_image(png)).number(shipped.classes) == "2071"


def test_one_digit_and_several_give_one_shape_the_same_as_predict_json(
    client: TestClient, mnist: Dataset, cnn_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A number of one digit and one of three have the same keys, and each model's answer is
    `mnistlab predict --json`'s row for the same file, field for field, plus its name, its time and
    each digit's 28x28 `input`."""
    shapes = set()
    for text in ("4", "305"):
        paper, _ = number_image(narrow_digits(mnist, text), gap=10, scale=2)
        path = tmp_path / f"{text}.png"
        path.write_bytes(png_bytes(paper))
        body = client.post("/api/predict", files={"image": (path.name, path.read_bytes())}).json()
        answer = body["models"][1]
        assert answer["name"] == "cnn" and len(answer["digits"]) == len(text)
        assert cli.main(["predict", str(cnn_run), str(path), "--json", "--device", "cpu"]) == 0
        (row,) = json.loads(capsys.readouterr().out)["predictions"]
        assert row == {
            "image": str(path),
            **{k: v for k, v in answer.items() if k not in ("name", "ms", "digits")},
            "digits": [{k: v for k, v in d.items() if k != "input"} for d in answer["digits"]],
        }
        shapes.add((frozenset(answer), *(frozenset(d) for d in answer["digits"][:1])))
        assert all(set(d) == DIGIT_KEYS for d in answer["digits"])
    assert shapes == {(frozenset(ANSWER_KEYS), frozenset(DIGIT_KEYS))}


def test_single_reads_the_whole_upload_as_one_digit(
    client: TestClient, served: list[ServedModel], mnist: Dataset
) -> None:
    paper, _ = number_image(narrow_digits(mnist, "12"), gap=12, scale=3)
    png = png_bytes(paper)
    body = client.post("/api/predict", params={"single": "true"}, files={"image": ("n.png", png)}).json()
    assert_answer(body, served, preprocess(load_image(png)))  # exactly the page's one-digit reading
    (box,) = {tuple(m["digits"][0]["box"]) for m in body["models"]}
    assert box[2] - box[0] > paper.shape[1] / 2  # the box around both digits


def test_a_canvas_drawing_has_its_boxes_in_canvas_pixels(client: TestClient, mnist: Dataset) -> None:
    digits, _ = number_image(narrow_digits(mnist, "47"), gap=6, scale=5)
    canvas = np.full((280, 840), 255, dtype=np.uint8)  # the page's number pad
    canvas[40 : 40 + digits.shape[0], 100 : 100 + digits.shape[1]] = digits
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes(canvas)).decode("ascii")
    body = client.post("/api/predict", json={"image": data_url}).json()
    for answer in body["models"]:
        assert len(answer["digits"]) == 2
        first, second = (d["box"] for d in answer["digits"])
        assert 100 <= first[0] < first[2] <= second[0] < second[2] <= 100 + digits.shape[1]
        assert min(first[1], second[1]) >= 40 and max(first[3], second[3]) <= 40 + digits.shape[0]


def test_the_digits_of_a_number_go_through_each_model_as_one_batch(
    client: TestClient, served: list[ServedModel], mnist: Dataset
) -> None:
    paper, _ = number_image(narrow_digits(mnist, "417711"), gap=10, scale=2)
    calls: dict[str, list[int]] = {s.name: [] for s in served}
    hooks = [
        s.model.register_forward_hook(lambda _m, args, _o, name=s.name: calls[name].append(len(args[0])))
        for s in served
    ]
    try:
        for single in ("false", "true"):
            response = client.post(
                f"/api/predict?single={single}", files={"image": ("n.png", png_bytes(paper))}
            )
            assert response.status_code == 200, response.text
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == {"softmax": [6, 1], "cnn": [6, 1]}


def test_concurrent_numbers_get_the_answers_read_alone(client: TestClient, mnist: Dataset) -> None:
    papers = [number_image(narrow_digits(mnist, text), gap=8, scale=2)[0] for text in ("35", "908", "6124")]
    pngs = [png_bytes(p) for p in papers]

    def ask(i: int) -> list[dict]:
        response = client.post("/api/predict", files={"image": ("n.png", pngs[i % 3])})
        assert response.status_code == 200, response.text
        return [{k: v for k, v in m.items() if k != "ms"} for m in response.json()["models"]]

    alone = [ask(i) for i in range(3)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(ask, range(18)))
    assert all(answer == alone[i % 3] for i, answer in enumerate(together))


# -- bad requests: each a JSON error of one sentence, never a 500 -------------------------------

BLANK_PNG = png_bytes(np.full((280, 280), 255, dtype=np.uint8))
DOTS = np.full((60, 40 * 24), 255, dtype=np.uint8)
for _k in range(40):  # 40 squares in a row, each as tall as the others: 40 digit candidates
    DOTS[20:40, 24 * _k + 2 : 24 * _k + 12] = 0
DOTS_PNG = png_bytes(DOTS)
NOT_AN_IMAGE = b"GIF89a but not really an image at all"
BAD_REQUESTS = {
    "malformed JSON": (dict(content=b'{"pixels": [1, 2', headers={"content-type": "application/json"}), 400),
    "JSON of the wrong kind": (dict(json="a string"), 422),
    "JSON without a known field": (dict(json={"picture": []}), 422),
    "wrong content type": (dict(content=b"7", headers={"content-type": "text/plain"}), 415),
    "no content type": (dict(content=b"7"), 415),
    "not an image (upload)": (dict(files={"image": ("x.png", NOT_AN_IMAGE, "image/png")}), 400),
    "not an image (data URL)": (
        dict(json={"image": "data:image/png;base64," + base64.b64encode(NOT_AN_IMAGE).decode()}),
        400,
    ),
    "not base64": (dict(json={"image": "data:image/png;base64,***"}), 400),
    "not a data URL": (dict(json={"image": "http://example.com/7.png"}), 422),
    "upload with no file part": (
        dict(
            content=b'--B\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--B--\r\n',
            headers={"content-type": "multipart/form-data; boundary=B"},
        ),
        422,
    ),
    "multipart without boundary": (dict(content=b"--", headers={"content-type": "multipart/form-data"}), 400),
    "empty upload": (dict(files={"image": ("x.png", b"", "image/png")}), 400),
    "body over 1 MB": (dict(content=b"7" * (MAX_BODY_BYTES + 1), headers={"content-type": "image/png"}), 413),
    "chunked body over 1 MB": (
        dict(content=iter([b"[" * 400_000] * 3), headers={"content-type": "application/json"}),
        413,
    ),
    "blank canvas (pixels)": (dict(json={"pixels": [[0] * 28] * 28}), 422),
    "blank canvas (PNG)": (dict(files={"image": ("blank.png", BLANK_PNG, "image/png")}), 422),
    "27 rows": (dict(json={"pixels": [[0] * 28] * 27}), 422),
    "ragged rows": (dict(json={"pixels": [[0] * 28] * 27 + [[0] * 29]}), 422),
    "3-D array": (dict(json={"pixels": [[[0]] * 28] * 28}), 422),
    "flat array": (dict(json={"pixels": [0] * 784}), 422),
    "not numbers": (dict(json={"pixels": [["7"] * 28] * 28}), 422),
    "out of range": (dict(json={"pixels": [[300] * 28] * 28}), 422),
    "deeply nested JSON": (dict(content=b"[" * 100_000, headers={"content-type": "application/json"}), 400),
    "more than 32 digit candidates": (dict(files={"image": ("dots.png", DOTS_PNG, "image/png")}), 422),
    "single is no boolean": (
        dict(params={"single": "perhaps"}, json={"pixels": [[0] * 27 + [255]] * 28}),
        422,
    ),
}


def test_two_file_parts_are_refused_by_name(client: TestClient, digits: np.ndarray) -> None:
    png = png_bytes(as_drawing(digits[1]))
    files = [("image", ("a.png", png, "image/png")), ("extra", ("b.png", png, "image/png"))]
    message = assert_one_sentence_error(client.post("/api/predict", files=files), 422)
    assert "got 2 ('image', 'extra')" in message


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_bad_request(client: TestClient, case: str) -> None:
    kwargs, status = BAD_REQUESTS[case]
    assert_one_sentence_error(client.post("/api/predict", **kwargs), status)


def test_bad_drawings_say_what_predict_says(client: TestClient) -> None:
    blank = assert_one_sentence_error(client.post("/api/predict", files={"image": ("b.png", BLANK_PNG)}), 422)
    assert blank.startswith("The drawing holds no digit: nothing stands out from its background")
    for single in ("false", "true"):
        blank = client.post("/api/predict", params={"single": single}, json={"pixels": [[0] * 28] * 28})
        assert "draw a digit first" in assert_one_sentence_error(blank, 422)
    dots = client.post("/api/predict", files={"image": ("dots.png", DOTS_PNG, "image/png")})
    assert assert_one_sentence_error(dots, 422) == (
        "The drawing holds 40 digit candidates, more than the 32 a number may have; "
        "crop it to one row of digits."
    )
    # Read whole, the same dots are one (odd) digit: the limit is on a number's digits.
    assert client.post("/api/predict?single=true", files={"image": ("d.png", DOTS_PNG)}).status_code == 200


def test_unknown_route_and_method(client: TestClient) -> None:
    assert "/docs" in assert_one_sentence_error(client.get("/api/nothing"), 404)
    assert "GET" in assert_one_sentence_error(client.get("/api/predict"), 405)


def test_validation_error_is_json(served: list[ServedModel]) -> None:
    app = create_app(served)

    @app.get("/probe")
    def probe(n: int) -> int:
        return n

    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as test_client:
        assert "n" in assert_one_sentence_error(test_client.get("/probe?n=seven"), 422)


def test_a_bug_is_a_json_500(served: list[ServedModel], monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(served)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.predictor, "read", broken)
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as test_client:
        response = test_client.post("/api/predict", json={"pixels": [[0] * 27 + [255]] * 28})
        assert_one_sentence_error(response, 500)


# -- the body limit, at the ASGI level -----------------------------------------------------------


async def echo_length(scope, receive, send) -> None:
    """An ASGI app that reads the whole body and answers with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def call_limited(headers: list[tuple[bytes, bytes]], chunks: int, limit: int) -> tuple[list[dict], int]:
    """Send `chunks` chunks of 100 kB through BodyLimit; returns what was sent back and how many chunks were read."""
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * 100_000, "more_body": read < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    async def main() -> None:
        scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
        try:
            await BodyLimit(echo_length, limit)(scope, receive, send)
        except Exception as exc:  # outside FastAPI nothing turns the error into a response
            sent.append({"type": "error", "status": getattr(exc, "status_code", None)})

    asyncio.run(main())
    return sent, read


def test_body_limit_stops_reading_a_stream() -> None:
    sent, read = call_limited([], chunks=50, limit=250_000)  # 5 MB offered, 250 kB allowed
    assert sent == [{"type": "error", "status": 413}]
    assert read == 3  # it stopped at the first chunk past the limit


def test_body_limit_trusts_no_body_over_the_declared_length() -> None:
    sent, read = call_limited([(b"content-length", b"5000000")], chunks=50, limit=250_000)
    assert read == 0 and sent[0]["status"] == 413
    sent, read = call_limited([(b"content-length", b"200000")], chunks=2, limit=250_000)
    assert read == 2 and sent[-1]["body"] == b"200000"


# -- `mnistlab serve`: which runs it serves, and the first start ----------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def capture_uvicorn(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace uvicorn.run (which would block) by a recorder of its arguments."""
    import uvicorn

    captured: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: captured.update(app=app, **kwargs))
    return captured


def test_serve_picks_the_newest_finished_runs(
    tmp_path: Path, softmax_run: Path, cnn_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for name, mtime in (("softmax-old", 1_000_000_000), ("softmax-new", 1_500_000_000)):
        shutil.copytree(softmax_run, runs / name)
        os.utime(runs / name / "results.json", (mtime, mtime))
    unfinished = shutil.copytree(softmax_run, runs / "softmax-unfinished")
    (unfinished / "results.json").unlink()
    (runs / "cnn").symlink_to(cnn_run, target_is_directory=True)
    (runs / "notes").mkdir()
    assert latest_finished_runs(runs) == {"softmax": runs / "softmax-new", "cnn": runs / "cnn"}

    captured = capture_uvicorn(monkeypatch)
    monkeypatch.setattr(first_start, "train", lambda *a, **k: pytest.fail("trained although runs exist"))
    port = free_port()
    assert cli.main(["serve", "--runs-dir", str(runs), "--port", str(port)]) == 0
    assert (captured["host"], captured["port"]) == ("127.0.0.1", port)
    with TestClient(captured["app"], base_url=LOCAL) as test_client:
        models = test_client.get("/api/models").json()["models"]
    assert [m["run"] for m in models] == ["softmax-new", "cnn"]


def test_serve_trains_what_it_needs_on_first_start(
    tmp_path: Path, mnist: Dataset, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # The first-start recipes, shortened, on a 1,000-image slice: this checks the wiring, not accuracy.
    def small(split: Split, n: int) -> Split:
        return Split(split.images[:n], split.labels[:n])

    tiny = Dataset(
        "mnist", mnist.classes, small(mnist.train, 800), small(mnist.val, 100), small(mnist.test, 100)
    )
    real_first_start = first_start.first_start_config

    def short(task: str) -> tuple[TrainConfig, str | None]:
        config, note = real_first_start(task)
        return dataclasses.replace(config, steps=4, eval_every=2, log_every=2), note

    monkeypatch.setattr(serve_command, "load_data", lambda args: tiny)
    monkeypatch.setattr(first_start, "first_start_config", short)
    captured = capture_uvicorn(monkeypatch)
    runs = tmp_path / "runs"
    assert cli.main(["serve", "--runs-dir", str(runs), "--port", str(free_port())]) == 0

    console = capsys.readouterr().err
    # The CNN is the reader that ships in the package; only the softmax (2 s) is trained.
    assert "no finished cnn run on mnist" in console and "serving the reader that ships" in console
    assert "no finished softmax run" in console and "training" in console
    assert "\r" not in console and "softmax (softmax): step 4/4 | loss " in console  # a log, not a bar
    trained = latest_finished_runs(runs)
    assert set(trained) == {"softmax"}
    assert read_results(trained["softmax"])["recipe"] == "softmax"
    with TestClient(captured["app"], base_url=LOCAL) as test_client:
        models = test_client.get("/api/models").json()["models"]
    assert [m["name"] for m in models] == ["softmax", "cnn"]
    assert (
        models[1]["recipe"] == "reader" and models[1]["run"] == reader_run().name and models[1]["calibrated"]
    )


def test_serve_trains_a_cnn_where_no_reader_ships(
    tmp_path: Path, mnist: Dataset, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Another dataset has no shipped reader: its CNN is trained on first start, as before."""
    tiny = Dataset(
        "fashion-mnist",
        mnist.classes,
        Split(mnist.train.images[:800], mnist.train.labels[:800]),
        Split(mnist.val.images[:100], mnist.val.labels[:100]),
        Split(mnist.test.images[:100], mnist.test.labels[:100]),
    )
    real_first_start = first_start.first_start_config

    def short(task: str) -> tuple[TrainConfig, str | None]:
        config, note = real_first_start(task)
        return dataclasses.replace(config, steps=4, eval_every=2, log_every=2, outlier_exposure=0.0), note

    monkeypatch.setattr(serve_command, "load_data", lambda args: tiny)
    monkeypatch.setattr(first_start, "first_start_config", short)
    capture_uvicorn(monkeypatch)
    runs = tmp_path / "runs"
    args = ["serve", "--runs-dir", str(runs), "--dataset", "fashion-mnist", "--port", str(free_port())]
    assert cli.main(args) == 0
    assert "no finished softmax or cnn run" in capsys.readouterr().err
    trained = latest_finished_runs(runs, "fashion-mnist")
    assert set(trained) == {"softmax", "cnn"}
    cnn_recipe = next((r for r in first_start.FIRST_START_CNN_RECIPES if r in RECIPES), "cnn")
    assert read_results(trained["cnn"])["recipe"] == cnn_recipe


def test_first_start_recipes() -> None:
    softmax, note = first_start.first_start_config("softmax")
    assert (softmax.model, softmax.recipe, softmax.steps, note) == ("softmax", "softmax", 1000, None)
    cnn, note = first_start.first_start_config("cnn")
    if "reader" in RECIPES:
        assert cnn == resolve_config("cnn", "reader") and note is None and cnn.outlier_exposure > 0
    elif "robust" in RECIPES:
        assert cnn == resolve_config("cnn", "robust") and note is None
    elif "fast" in RECIPES:
        assert cnn == resolve_config("cnn", "fast") and note is None
    else:
        assert (cnn.model, cnn.recipe, cnn.steps) == ("cnn", "cnn", first_start.FALLBACK_CNN_STEPS)
        assert note and "paper CNN" in note


def test_serve_refuses_a_busy_port(capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["serve", "no-such-run", "--port", str(port)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mnistlab: error: Cannot listen on 127.0.0.1:") and "--port" in error
    assert len(error.splitlines()) == 1


def test_serve_names_a_missing_run(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert cli.main(["serve", str(tmp_path / "nope"), "--port", str(free_port())]) == 1
    error = capsys.readouterr().err.strip()
    assert "does not exist" in error and len(error.splitlines()) == 1
