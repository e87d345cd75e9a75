"""The models IsoMix knows by name: what they separate, how big they are, where they come from."""

from __future__ import annotations

from dataclasses import dataclass

from isomix import storage

FOUR_STEMS = ("drums", "bass", "other", "vocals")
SIX_STEMS = ("drums", "bass", "other", "vocals", "guitar", "piano")

# demucs 4.1.0 loads its named models from this HuggingFace namespace (demucs/hf.py).
HUB_NAMESPACE = "adefossez"

BYTES_PER_MB = 1_000_000


def format_size(size_bytes: float, *, approximate: bool = False) -> str:
    """A model's size as every listing shows it (CLI and API): decimal units, MB = 10^6
    bytes, one decimal ("84.1 MB"); `approximate` for the catalog's estimates ("~84 MB")."""
    if approximate:
        return f"~{size_bytes / BYTES_PER_MB:.0f} MB"
    return storage.format_bytes(size_bytes)


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    stems: tuple[str, ...]
    # Approximate download size in MB (10^6 bytes, as `format_size` writes it): the size of
    # demucs' own release files; 0 for models that ship with the code.
    size_mb: int
    # Mean SDR in dB over the four stems; None where none is known.
    sdr_db: float | None
    # Where `sdr_db` comes from (published or measured, on what), or why there is none: shown
    # next to the number by `isomix models list` and /api/models.
    sdr_source: str
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
            description="Hybrid Transformer Demucs v4: good quality, one model.",
            stems=FOUR_STEMS,
            size_mb=84,
            # Demucs README (github.com/facebookresearch/demucs at v4.0.0-30-ge976d93, the same
            # text in its fork adefossez/demucs): "The model achieves a SDR of 9.00 dB on the
            # MUSDB HQ test set", then "The single, non fine-tuned model is provided as
            # `-n htdemucs`".
            sdr_db=9.00,
            sdr_source="published by Demucs (README), MUSDB18-HQ test set",
            hub_repo=_hub("htdemucs"),
            signatures=("955717e8",),
        ),
        CatalogEntry(
            name="htdemucs_ft",
            description="Fine-tuned HT Demucs, one model per stem: best quality, 4x slower.",
            stems=FOUR_STEMS,
            size_mb=4 * 84,
            # Demucs README, "Comparison of accuracy" table: "HT Demucs f.t. (v4)", Overall
            # SDR 9.0 (the mean of the 4 sources on the MUSDB HQ test set).
            sdr_db=9.0,
            sdr_source="published by Demucs (README table), MUSDB18-HQ test set",
            hub_repo=_hub("htdemucs_ft"),
            signatures=("f7e0c4bc", "d12395a8", "92cfc3b6", "04573f0d"),
        ),
        CatalogEntry(
            name="htdemucs_6s",
            description="Six-stem HT Demucs adding guitar and piano (piano is weak).",
            stems=SIX_STEMS,
            size_mb=55,
            # The Demucs README calls it experimental ("okay quality for guitar, but a lot of
            # bleeding and artifacts for the piano source") and publishes no SDR for it.
            sdr_db=None,
            sdr_source="none published by Demucs (experimental model)",
            hub_repo=_hub("htdemucs_6s"),
            signatures=("5c90dfd2",),
        ),
        CatalogEntry(
            name="mdx_extra",
            description="Hybrid Demucs v3 bag, 2nd on MDX 2021 track B (trained on MUSDB test).",
            stems=FOUR_STEMS,
            size_mb=4 * 168,
            # Trained on the MUSDB test set, so there is no MUSDB test figure. The Demucs
            # README links its MDX 2021 Track B submission (github.com/adefossez/mdx21_demucs,
            # the four models e51eebcc a1d90b5c 5d2d6c55 cfa93e08 of mdx_extra), whose README
            # gives "Final scores on MDXDB21": SDR_song 8.11 (the challenge's hidden test set).
            sdr_db=8.11,
            sdr_source="published by Demucs (MDX 2021 Track B), MDX hidden test set, not MUSDB",
            hub_repo=_hub("mdx_extra"),
            signatures=("e51eebcc", "a1d90b5c", "5d2d6c55", "cfa93e08"),
        ),
        CatalogEntry(
            name="classic",
            description="Weight-free DSP separation for machines without a Demucs model: "
            "much lower quality.",
            stems=FOUR_STEMS,
            size_mb=0,
            # Measured by bench/classic_sdr.py on ../shared/testdata (README, "Classic against
            # Demucs"): mean of the 4 stems on musdb18_excerpt_80s_rock, the one excerpt whose
            # four stems are all real. Its parameters were tuned on that excerpt.
            sdr_db=5.94,
            sdr_source="measured here (bench/classic_sdr.py) on one 7 s MUSDB18 excerpt it "
            "was tuned on",
            hub_repo=None,
            builtin=True,
            low_quality=True,
        ),
        CatalogEntry(
            name="demucs_unittest",
            description="Tiny randomly initialised Demucs for tests; output is noise.",
            stems=FOUR_STEMS,
            size_mb=0,
            sdr_db=None,
            sdr_source="none: random weights, for tests",
            hub_repo=None,
            builtin=True,
            low_quality=True,
            hidden=True,
        ),
    )
}


# Best first, the order the default model follows when none is chosen (see
# `store.default_model`): published quality, then speed. htdemucs_ft and htdemucs publish the
# same 9.0 dB; the fine-tuned bag is the one the Demucs README's table lists for v4.
# mdx_extra's figure is on another test set. Then the built-in fallback.
MODEL_PREFERENCE = ("htdemucs_ft", "htdemucs", "htdemucs_6s", "mdx_extra")
FALLBACK_MODEL = "classic"


def get_entry(name: str) -> CatalogEntry | None:
    return CATALOG.get(name)


def is_known(name: str) -> bool:
    return name in CATALOG


def is_builtin(name: str) -> bool:
    entry = CATALOG.get(name)
    return entry is not None and entry.builtin


def listed_entries(*, include_hidden: bool = False) -> list[CatalogEntry]:
    return [entry for entry in CATALOG.values() if include_hidden or not entry.hidden]
