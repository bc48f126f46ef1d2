"""Where a pretrained backbone comes from: Keras Applications, KerasHub presets, `.keras` files and kproto runs.

`classify_source` and the tables here import nothing heavy (so `kproto validate` stays fast); loading a backbone
imports Keras (and KerasHub for presets) inside the functions. A named source that needs the network fails fast
when there is none, with the `kproto fetch` command that makes a folder `model.source` accepts offline.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kproto.core import catalog
from kproto.core.errors import ModelFileError, RecipeError

# model.source kinds
APPLICATION = "applications"  # a Keras Applications architecture by name
HUB_PRESET = "keras_hub"  # a KerasHub preset name or handle (kaggle://, hf://, modelscope://, gs://)
PRESET_FOLDER = "preset_folder"  # a local KerasHub preset folder (config.json + weights)
KERAS_FILE = "keras_file"  # a .keras model file
RUN = "run"  # a kproto run directory (or a folder of runs: the latest completed one)

HUB_SCHEMES = ("kaggle://", "hf://", "modelscope://", "gs://")

# Applications name -> (class in keras.applications, module with its preprocess_input, smallest input side)
APPLICATIONS: dict[str, tuple[str, str, int]] = {
    "convnext_tiny": ("ConvNeXtTiny", "convnext", 32),
    "convnext_small": ("ConvNeXtSmall", "convnext", 32),
    "convnext_base": ("ConvNeXtBase", "convnext", 32),
    "convnext_large": ("ConvNeXtLarge", "convnext", 32),
    "convnext_xlarge": ("ConvNeXtXLarge", "convnext", 32),
    "densenet121": ("DenseNet121", "densenet", 32),
    "densenet169": ("DenseNet169", "densenet", 32),
    "densenet201": ("DenseNet201", "densenet", 32),
    "efficientnet_b0": ("EfficientNetB0", "efficientnet", 32),
    "efficientnet_b1": ("EfficientNetB1", "efficientnet", 32),
    "efficientnet_b2": ("EfficientNetB2", "efficientnet", 32),
    "efficientnet_b3": ("EfficientNetB3", "efficientnet", 32),
    "efficientnet_b4": ("EfficientNetB4", "efficientnet", 32),
    "efficientnet_b5": ("EfficientNetB5", "efficientnet", 32),
    "efficientnet_b6": ("EfficientNetB6", "efficientnet", 32),
    "efficientnet_b7": ("EfficientNetB7", "efficientnet", 32),
    "efficientnet_v2_b0": ("EfficientNetV2B0", "efficientnet_v2", 32),
    "efficientnet_v2_b1": ("EfficientNetV2B1", "efficientnet_v2", 32),
    "efficientnet_v2_b2": ("EfficientNetV2B2", "efficientnet_v2", 32),
    "efficientnet_v2_b3": ("EfficientNetV2B3", "efficientnet_v2", 32),
    "efficientnet_v2_s": ("EfficientNetV2S", "efficientnet_v2", 32),
    "efficientnet_v2_m": ("EfficientNetV2M", "efficientnet_v2", 32),
    "efficientnet_v2_l": ("EfficientNetV2L", "efficientnet_v2", 32),
    "inception_resnet_v2": ("InceptionResNetV2", "inception_resnet_v2", 75),
    "inception_v3": ("InceptionV3", "inception_v3", 75),
    "mobilenet": ("MobileNet", "mobilenet", 32),
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2", 32),
    "mobilenet_v3_small": ("MobileNetV3Small", "mobilenet_v3", 32),
    "mobilenet_v3_large": ("MobileNetV3Large", "mobilenet_v3", 32),
    "nasnet_mobile": ("NASNetMobile", "nasnet", 32),
    "nasnet_large": ("NASNetLarge", "nasnet", 32),
    "resnet50": ("ResNet50", "resnet", 32),
    "resnet101": ("ResNet101", "resnet", 32),
    "resnet152": ("ResNet152", "resnet", 32),
    "resnet50_v2": ("ResNet50V2", "resnet_v2", 32),
    "resnet101_v2": ("ResNet101V2", "resnet_v2", 32),
    "resnet152_v2": ("ResNet152V2", "resnet_v2", 32),
    "vgg16": ("VGG16", "vgg16", 32),
    "vgg19": ("VGG19", "vgg19", 32),
    "xception": ("Xception", "xception", 71),
}

# Hosts a named source downloads from, probed with a short timeout before a download is attempted.
HOSTS = {
    "kaggle": "www.kaggle.com",
    "hf": "huggingface.co",
    "modelscope": "modelscope.cn",
    "gs": "storage.googleapis.com",
}
APPLICATIONS_HOST = "storage.googleapis.com"
PROBE_TIMEOUT_S = 3.0


def looks_like_path(source: str) -> bool:
    """A source written as a path (rather than a name or a hub handle)."""
    if source.startswith(HUB_SCHEMES):
        return False
    return "/" in source or "\\" in source or source.startswith((".", "~")) or source.endswith(".keras")


def classify_source(source: str, must_exist: bool = True) -> str:
    """The kind of `model.source` (one of APPLICATION, HUB_PRESET, PRESET_FOLDER, KERAS_FILE, RUN)."""
    if source.startswith(HUB_SCHEMES):
        return HUB_PRESET
    if source.lower() in APPLICATIONS:
        return APPLICATION
    if not looks_like_path(source):
        return HUB_PRESET  # a KerasHub preset name such as bert_tiny_en_uncased
    path = Path(source).expanduser()
    if source.endswith(".keras"):
        if must_exist and not path.is_file():
            raise ModelFileError(f"model file not found: {path}", field="model.source")
        return KERAS_FILE
    if not path.is_dir():
        if not must_exist:
            return RUN
        raise ModelFileError(
            f"model.source '{source}' is not an existing folder or .keras file",
            field="model.source",
            hint="give a kproto run directory, a local KerasHub preset folder, a .keras file, "
            "a Keras Applications name (e.g. mobilenet_v3_small) or a KerasHub preset name",
        )
    if (path / "config.json").is_file() and not (path / "recipe.yaml").is_file():
        return PRESET_FOLDER
    return RUN


def resolve_run(source: str | Path) -> Path:
    """A run directory: the folder itself, or the latest completed run inside a folder of runs."""
    from kproto.runs.layout import METRICS, MODEL, is_run_folder

    path = Path(source).expanduser()
    if is_run_folder(path):
        if not (path / MODEL).is_file():
            raise ModelFileError(f"the run {path} has no {MODEL}", field="model.source", hint="train it to the end")
        return path
    import json

    done = []
    for candidate in sorted(p for p in path.iterdir() if p.is_dir()):
        try:
            status = json.loads((candidate / METRICS).read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError):
            continue
        if status == catalog.COMPLETED and (candidate / MODEL).is_file():
            done.append(candidate)
    if not done:
        raise ModelFileError(
            f"{path} holds no completed kproto run",
            field="model.source",
            hint="train the source recipe first (kproto train ...) or point model.source at a run directory",
        )
    return done[-1]  # stamps sort by time


def file_hash(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in sorted order)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for item in files:
        if path.is_dir():
            digest.update(str(item.relative_to(path)).encode())
        with open(item, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


# ----------------------------------------------------------------------------- network
def host_for(source: str, kind: str) -> str:
    if kind == APPLICATION:
        return APPLICATIONS_HOST
    scheme = source.split("://", 1)[0] if "://" in source else "kaggle"
    return HOSTS.get(scheme, HOSTS["kaggle"])


def network_available(host: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to `host`:443 opens within `timeout` seconds."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def offline_error(source: str, kind: str, detail: str = "") -> ModelFileError:
    what = "its imagenet weights" if kind == APPLICATION else "the preset"
    use = (
        f"then set model.weights: DIR/{source}.weights.h5"
        if kind == APPLICATION
        else "then set model.source: DIR (the folder is a local KerasHub preset)"
    )
    return ModelFileError(
        f"model.source '{source}' needs the network to download {what}, and there is none"
        + (f" ({detail})" if detail else ""),
        field="model.source" if kind != APPLICATION else "model.weights",
        hint=f"on a connected machine run `kproto fetch {source} --out DIR`, copy DIR here, {use}",
    )


@contextmanager
def _hub_offline() -> Iterator[None]:
    """Hugging Face's client retries for ~20 s without a network: in offline mode it reads its cache or fails."""
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        import huggingface_hub.constants as hf_constants

        old_flag = hf_constants.HF_HUB_OFFLINE
        hf_constants.HF_HUB_OFFLINE = True
    except (ImportError, AttributeError):
        hf_constants, old_flag = None, None
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
        if hf_constants is not None:
            hf_constants.HF_HUB_OFFLINE = old_flag


def download_guard(source: str, kind: str, load: Callable[[], Any]) -> Any:
    """Run `load` (which may download); without a network, a cache miss becomes the `kproto fetch` error."""
    online = network_available(host_for(source, kind))
    if online:
        try:
            return load()
        except (OSError, ValueError, FileNotFoundError) as exc:
            raise ModelFileError(
                f"cannot load model.source '{source}': {str(exc).splitlines()[0][:300]}", field="model.source"
            ) from None
    try:
        with _hub_offline():
            return load()
    except Exception as exc:  # noqa: BLE001 - any failure of a download without a network means the same thing
        raise offline_error(source, kind, type(exc).__name__) from None


def describe_source(spec: Any) -> dict[str, Any]:
    """Provenance of `model.source` for metrics.json: its kind, resolved location, and version or file hash."""
    from importlib.metadata import PackageNotFoundError, version

    kind = classify_source(spec.source)
    record: dict[str, Any] = {"source": spec.source, "kind": kind}
    if kind == APPLICATION:
        weights = spec.weights or "imagenet"
        record.update(weights=weights, version=f"keras {version('keras')}")
        if weights not in ("imagenet", "none"):
            record.update(weights=str(Path(weights).expanduser().resolve()), hash=file_hash(Path(weights).expanduser()))
    elif kind == HUB_PRESET:
        try:
            record["keras_hub"] = version("keras-hub")
        except PackageNotFoundError:
            pass
        record["version"] = preset_version(spec.source)
    elif kind == PRESET_FOLDER:
        folder = Path(spec.source).expanduser()
        record.update(source=str(folder.resolve()), hash=file_hash(folder))
    elif kind == KERAS_FILE:
        path = Path(spec.source).expanduser()
        record.update(source=str(path.resolve()), hash=file_hash(path))
    else:
        from kproto.runs.layout import MODEL

        run = resolve_run(spec.source)
        record.update(source=str(run.resolve()), hash=file_hash(run / MODEL))
    return record


def affine_of(preprocess_input: Callable[[Any], Any]) -> tuple[list[list[float]], list[float]]:
    """An Applications `preprocess_input` (a per-pixel affine map of [0, 255] RGB) as a 3×3 matrix and a bias,
    read by applying it to black and to pure red, green and blue. Pixels in [0, 1] go in: the map includes ×255."""
    import numpy as np

    probe = np.zeros((1, 1, 4, 3), dtype=np.float32)
    probe[0, 0, 1, 0] = probe[0, 0, 2, 1] = probe[0, 0, 3, 2] = 255.0
    out = np.asarray(preprocess_input(probe.copy()), dtype=np.float64)[0, 0]
    bias = out[0]
    matrix = out[1:] - bias  # row j: the output for input channel j at full scale (1.0 here, 255 there)
    return matrix.tolist(), bias.tolist()


def preset_version(source: str) -> str:
    """The handle a preset name resolves to (it carries the version), e.g. kaggle://keras/bert/keras/bert_tiny/2."""
    try:
        from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

        return BUILTIN_PRESETS.get(source, {}).get("kaggle_handle", source)
    except ImportError:
        return source


# ----------------------------------------------------------------------------- text
def preset_sequence_limit(source: str, kind: str) -> int | None:
    """The longest token sequence a KerasHub text preset's backbone accepts (its config's max_sequence_length);
    None when the preset does not say."""
    from keras_hub.src.utils.preset_utils import load_json

    def load() -> Any:
        return load_json(source)

    try:
        config = load() if kind == PRESET_FOLDER else download_guard(source, kind, load)
    except (OSError, ValueError):
        return None
    limit = (config.get("config") or {}).get("max_sequence_length") if isinstance(config, dict) else None
    return int(limit) if isinstance(limit, int) and limit > 0 else None


def text_preprocessor(source: str, kind: str, sequence_length: int) -> Any:
    import keras_hub

    def load() -> Any:
        return keras_hub.models.TextClassifierPreprocessor.from_preset(source, sequence_length=sequence_length)

    try:
        return load() if kind == PRESET_FOLDER else download_guard(source, kind, load)
    except ValueError as exc:
        raise ModelFileError(
            f"model.source '{source}' has no text tokenizer: {str(exc).splitlines()[0][:200]}",
            field="model.source",
            hint="a text backbone preset holds tokenizer.json and its vocabulary (save it with save_to_preset)",
        ) from None


def is_text_source(spec: Any) -> bool:
    """Whether `spec.source` is a KerasHub preset with a tokenizer (then the data is tokenized the preset's way)."""
    kind = classify_source(spec.source)
    if kind == PRESET_FOLDER:
        return (Path(spec.source).expanduser() / "tokenizer.json").is_file()
    if kind == HUB_PRESET:
        from keras_hub.src.utils.preset_utils import check_file_exists

        return bool(download_guard(spec.source, kind, lambda: check_file_exists(spec.source, "tokenizer.json")))
    return False


def source_preprocessing(spec: Any) -> dict[str, Any] | None:
    """The feature preprocessing a run source was trained with (its preprocess.json state), else None."""
    if classify_source(spec.source) != RUN:
        return None
    import json

    from kproto.runs.layout import PREPROCESS

    run = resolve_run(spec.source)
    try:
        state = json.loads((run / PREPROCESS).read_text(encoding="utf-8"))["state"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFileError(f"cannot read {run / PREPROCESS}: {exc}", field="model.source") from None
    return {k: v for k, v in state.items() if k not in ("task", "target", "imputed")}


# ----------------------------------------------------------------------------- fetch
def fetch(source: str, out: Path) -> dict[str, Any]:
    """Download a named preset or Applications' imagenet weights into `out`, a folder `model.source` accepts."""
    kind = classify_source(source)
    out = Path(out).expanduser()
    if kind not in (APPLICATION, HUB_PRESET, PRESET_FOLDER):
        raise RecipeError(
            f"'{source}' is a {kind}: it is already local, there is nothing to fetch",
            field="SOURCE",
            hint="kproto fetch takes a Keras Applications name or a KerasHub preset name or handle",
        )
    if not network_available(host_for(source, kind), PROBE_TIMEOUT_S) and kind != PRESET_FOLDER:
        raise ModelFileError(
            f"kproto fetch {source} needs the network, and there is none",
            field="SOURCE",
            hint="run kproto fetch on a connected machine and copy the folder here",
        )
    out.mkdir(parents=True, exist_ok=True)
    if kind == APPLICATION:
        import keras

        class_name, _, _ = APPLICATIONS[source.lower()]
        model = getattr(keras.applications, class_name)(include_top=False, weights="imagenet", pooling="avg")
        target = out / f"{source.lower()}.weights.h5"
        model.save_weights(target)
        return {
            "source": source,
            "written": str(target),
            "use": f"model: {{type: pretrained, source: {source.lower()}, weights: {target}}}",
        }
    import keras_hub

    preset = str(Path(source).expanduser()) if kind == PRESET_FOLDER else source
    backbone = keras_hub.models.Backbone.from_preset(preset)
    backbone.save_to_preset(str(out))
    try:
        keras_hub.tokenizers.Tokenizer.from_preset(preset).save_to_preset(str(out))
    except (ValueError, FileNotFoundError):
        pass  # image and audio presets have no tokenizer
    try:
        keras_hub.layers.ImageConverter.from_preset(preset).save_to_preset(str(out))
    except (ValueError, FileNotFoundError):
        pass
    return {"source": source, "written": str(out), "use": f"model: {{type: pretrained, source: {out}}}"}
