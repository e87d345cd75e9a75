"""The models IsoMix knows by name: what they separate, how big they are, where they come from."""

from __future__ import annotations

from dataclasses import dataclass

FOUR_STEMS = ("drums", "bass", "other", "vocals")
SIX_STEMS = ("drums", "bass", "other", "vocals", "guitar", "piano")

# demucs 4.1.0 loads its named models from this HuggingFace namespace (demucs/hf.py).
HUB_NAMESPACE = "adefossez"


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    stems: tuple[str, ...]
    # Approximate download size; 0 for models that ship with the code.
    size_mb: int
    # Mean SDR over the four MUSDB18-HQ test stems as published in the Demucs README; None
    # where Demucs publishes no comparable number.
    published_sdr_db: float | None
    # HuggingFace repository holding `<name>.yaml` and one `<sig>.safetensors` per bag member.
    hub_repo: str | None
    # Signatures of the bag members, as in demucs' own remote/<name>.yaml; one
    # `<sig>.safetensors` each on the hub. Known here so the offline hint can list the files.
    signatures: tuple[str, ...] = ()
    # Ships with the code: always installed, nothing to download.
    builtin: bool = False
    low_quality: bool = False
    # Left out of listings unless asked for (test-only models).
    hidden: bool = False

    @property
    def yaml_filename(self) -> str:
        return f"{self.name}.yaml"


def hub_repo_name(name: str) -> str:
    """The repository name demucs uses on the hub, e.g. `htdemucs_ft` -> `HTDemucs-ft`."""
    if name == "htdemucs":
        return "HTDemucs"
    if name.startswith("htdemucs_"):
        return "HTDemucs-" + name.removeprefix("htdemucs_")
    return "Demucs-" + name


def _hub(name: str) -> str:
    return f"{HUB_NAMESPACE}/{hub_repo_name(name)}"


CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in (
        CatalogEntry(
            name="htdemucs",
            description="Hybrid Transformer Demucs v4, the default: good quality, one model.",
            stems=FOUR_STEMS,
            size_mb=84,
            # The README's comparison table only lists the fine-tuned bag (9.0); its text
            # says 9.00 dB for HT Demucs without saying which variant, so none is claimed here.
            published_sdr_db=None,
            hub_repo=_hub("htdemucs"),
            signatures=("955717e8",),
        ),
        CatalogEntry(
            name="htdemucs_ft",
            description="Fine-tuned HT Demucs, one model per stem: best quality, 4x slower.",
            stems=FOUR_STEMS,
            size_mb=4 * 84,
            published_sdr_db=9.0,  # README table, "HT Demucs f.t. (v4)"
            hub_repo=_hub("htdemucs_ft"),
            signatures=("f7e0c4bc", "d12395a8", "92cfc3b6", "04573f0d"),
        ),
        CatalogEntry(
            name="htdemucs_6s",
            description="Six-stem HT Demucs adding guitar and piano (piano is weak).",
            stems=SIX_STEMS,
            size_mb=55,
            published_sdr_db=None,
            hub_repo=_hub("htdemucs_6s"),
            signatures=("5c90dfd2",),
        ),
        CatalogEntry(
            name="mdx_extra",
            description="Hybrid Demucs v3 bag, 2nd on MDX 2021 track B (trained on MUSDB test).",
            stems=FOUR_STEMS,
            size_mb=4 * 168,
            # Trained on the MUSDB test set, so Demucs publishes no MUSDB test SDR for it.
            published_sdr_db=None,
            hub_repo=_hub("mdx_extra"),
            signatures=("e51eebcc", "a1d90b5c", "5d2d6c55", "cfa93e08"),
        ),
        CatalogEntry(
            name="classic",
            description="Weight-free DSP separation for machines without models; low quality.",
            stems=FOUR_STEMS,
            size_mb=0,
            published_sdr_db=None,
            hub_repo=None,
            builtin=True,
            low_quality=True,
        ),
        CatalogEntry(
            name="demucs_unittest",
            description="Tiny randomly initialised Demucs for tests; output is noise.",
            stems=FOUR_STEMS,
            size_mb=0,
            published_sdr_db=None,
            hub_repo=None,
            builtin=True,
            low_quality=True,
            hidden=True,
        ),
    )
}


def get_entry(name: str) -> CatalogEntry | None:
    return CATALOG.get(name)


def is_known(name: str) -> bool:
    return name in CATALOG


def is_builtin(name: str) -> bool:
    entry = CATALOG.get(name)
    return entry is not None and entry.builtin


def listed_entries(*, include_hidden: bool = False) -> list[CatalogEntry]:
    return [entry for entry in CATALOG.values() if include_hidden or not entry.hidden]
