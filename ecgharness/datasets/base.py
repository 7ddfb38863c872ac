"""Dataset registry, prepared arrays and the on-disk cache.

A dataset is registered as a :class:`DatasetSpec`: a typed config dataclass and a
``prepare`` function turning source files into train/validation/test arrays.
:func:`load_dataset` validates the config, looks the prepared arrays up in the
cache (keyed by a hash of the config and of the source files' sizes and times)
and prepares them only on a miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ecgharness.config import from_mapping, to_dict
from ecgharness.errors import ConfigError
from ecgharness.evaluation.scoring import scoring_rules
from ecgmodels.registry import Registry

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CACHE_FORMAT = 1


@dataclass
class Split:
    """One split.

    Attributes:
        x: Signals (N, leads, samples), float32.
        y: Labels: class ids (N,) for single-label tasks, or a 0/1 matrix (N, classes)
            for multi-label tasks.
        meta: Optional per-example metadata features (N, features), float32.
    """

    x: np.ndarray
    y: np.ndarray
    meta: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.x.ndim != 3:
            raise ValueError(f"signals must be (N, leads, samples), got shape {self.x.shape}")
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} signals but {len(self.y)} labels")
        if self.meta is not None and (self.meta.ndim != 2 or len(self.meta) != len(self.x)):
            raise ValueError(f"metadata must be (N, features) with N={len(self.x)}, got {self.meta.shape}")

    def take(self, idx: np.ndarray) -> "Split":
        return Split(self.x[idx], self.y[idx], None if self.meta is None else self.meta[idx])

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Prepared:
    """What a dataset's ``prepare`` returns before caching."""

    splits: dict[str, Split]
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    notes: dict[str, Any] = field(default_factory=dict)
    candidates: int | None = None  # records the source lists; quarantined ones count against it
    meta_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] | None = None  # when the labels depend on the config and data


@dataclass
class PreparedDataset:
    """Prepared arrays plus everything a trial or a report needs to interpret them."""

    name: str
    config: dict[str, Any]
    class_names: tuple[str, ...]
    headline: str
    splits: dict[str, Split]
    cache_key: str
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False
    task: str = "multiclass"  # or "multilabel"
    meta_names: tuple[str, ...] = ()
    candidates: int | None = None
    cache_dir: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"

    @property
    def sampling_rate(self) -> float | None:
        """Samples per second of the signals (``notes["sampling_rate"]``, else the config's)."""
        rate = self.notes.get("sampling_rate") or self.config.get("sampling_rate")
        return float(rate) if rate else None

    @property
    def scored(self) -> tuple[int, ...] | None:
        """Indices of the classes macro averages and loss weights cover (``notes["scored_classes"]``);
        None: every class."""
        return scoring_rules(self.notes, self.class_names)[0]

    @property
    def forgive(self) -> tuple[tuple[int, int], ...]:
        """(true, predicted) class pairs that are not errors (``notes["forgive"]``, by class name)."""
        return scoring_rules(self.notes, self.class_names)[1]

    @property
    def has_meta(self) -> bool:
        return self.splits["train"].meta is not None

    @property
    def lost_share(self) -> float:
        """Share of the source's records that were quarantined."""
        if not self.candidates:
            return 0.0
        return len(self.quarantined) / self.candidates

    @property
    def in_channels(self) -> int:
        return int(self.splits["train"].x.shape[1])

    @property
    def signal_length(self) -> int:
        return int(self.splits["train"].x.shape[2])

    def class_counts(self, split: str) -> dict[str, int]:
        y = self.splits[split].y
        counts = y.sum(axis=0) if y.ndim == 2 else np.bincount(y, minlength=self.num_classes)
        return {c: int(n) for c, n in zip(self.class_names, counts)}

    def without_test(self) -> "PreparedDataset":
        """A copy holding only train and validation: what a search trial may see."""
        kept = {k: v for k, v in self.splits.items() if k != "test"}
        return dataclasses.replace(self, splits=kept)

    def summary_lines(self) -> list[str]:
        lines = [
            f"{self.name}: {self.num_classes} classes {list(self.class_names)}"
            + (" (multi-label)" if self.multilabel else "")
            + (f", {self.in_channels} channels ({', '.join(self.notes['channels'])})" if self.notes.get("channels")
               else f", {self.in_channels} lead(s)") + f" x {self.signal_length} samples"
            + (f", {len(self.meta_names)} metadata features" if self.meta_names else "")
            + (" (from cache)" if self.from_cache else "")
        ]
        for split in self.splits:
            counts = ", ".join(f"{c} {n}" for c, n in self.class_counts(split).items())
            lines.append(f"  {split:<5} {len(self.splits[split]):>7} examples  ({counts})")
        if self.quarantined:
            of = f" of {self.candidates:,} ({self.lost_share:.1%})" if self.candidates else ""
            lines.append(f"  quarantined {len(self.quarantined):,} file(s){of}:")
            lines += [f"    {name}: {reason}" for name, reason in self.quarantined[:20]]
            if len(self.quarantined) > 20:
                where = Path(self.cache_dir) / "quarantine.json" if self.cache_dir else "quarantine.json"
                lines.append(f"    ... and {len(self.quarantined) - 20:,} more (see {where})")
        return lines


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Attributes:
        name: Registry name.
        config_cls: Frozen dataclass of the dataset's options.
        prepare: ``prepare(config, root) -> Prepared``.
        source_files: ``source_files(config, root) -> paths`` whose size and time key the cache.
        class_names: Label names, index = class id.
        headline: The metric rankings sort by.
        default_root: ``default_root(config) -> Path`` when the data lives with the package.
        description: One line for ``bench list datasets``.
        version: Bumped when ``prepare`` changes its output, so older caches are not reused.
        task: ``multiclass`` or ``multilabel``.
        status: ``status(root) -> str`` for ``bench data info``: one line saying which source
            files are present under the data root, and how to get the missing ones (default:
            a count of ``source_files`` with the default config).
    """

    name: str
    config_cls: type
    prepare: Callable[[Any, Path], Prepared]
    source_files: Callable[[Any, Path], Iterable[Path]]
    class_names: tuple[str, ...]
    headline: str
    description: str
    default_root: Callable[[Any], Path] | None = None
    version: int = 1
    task: str = "multiclass"
    status: Callable[[Path], str] | None = None


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def count_files(folder: Path, pattern: str) -> int:
    """How many files under ``folder`` match the glob ``pattern`` (0 when the folder is missing)."""
    return sum(1 for _ in folder.glob(pattern)) if folder.is_dir() else 0


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    DATASETS.add(spec.name, spec)
    return spec


def get_dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS.get(name)
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None


def parse_config(name: str, config: Mapping[str, Any] | None) -> Any:
    spec = get_dataset_spec(name)
    return from_mapping(spec.config_cls, config, f"dataset {name!r} config")


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The folder holding raw datasets: ``explicit``, else ``$ECGHARNESS_DATA``, else ``./data``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("ECGHARNESS_DATA")
    return Path(env).expanduser() if env else Path("data")


def cache_root(explicit: str | os.PathLike | None = None) -> Path:
    """Prepared-array cache: ``explicit``, else ``$ECGHARNESS_CACHE``, else ``~/.cache/ecgharness``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("ECGHARNESS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ecgharness"


def source_root(spec: DatasetSpec, config: Any, root: str | os.PathLike | None = None) -> Path:
    """The folder a dataset's source files are read from: the package's own (embedded data)
    unless ``root`` is given, else :func:`data_root`."""
    if spec.default_root is not None and root is None:
        return spec.default_root(config)
    return data_root(root)


def _cache_key(spec: DatasetSpec, config: Any, root: Path) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"name": spec.name, "version": spec.version, "format": CACHE_FORMAT,
                         "config": to_dict(config)}, sort_keys=True).encode())
    for path in sorted(Path(p) for p in spec.source_files(config, root)):
        try:
            st = path.stat()
            h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{path.name}:missing\n".encode())
    return h.hexdigest()[:16]


class DataQualityError(ConfigError):
    """Too many records of a dataset were quarantined."""


def load_dataset(
    name: str,
    config: Mapping[str, Any] | None = None,
    *,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    max_lost_share: float | None = None,
) -> PreparedDataset:
    """Prepared arrays of dataset ``name``, from the cache when possible.

    Args:
        name: Registered dataset name.
        config: Dataset options; unknown keys raise :class:`ConfigError`.
        root: Data root holding the raw files (see :func:`data_root`).
        cache_dir: Cache root (see :func:`cache_root`).
        use_cache: Read and write the cache.
        max_lost_share: Raise :class:`DataQualityError` when a larger share of the source's
            records was quarantined (the prepared arrays are cached all the same).
    """
    spec = get_dataset_spec(name)
    cfg = parse_config(name, config)
    src_root = source_root(spec, cfg, root)
    key = _cache_key(spec, cfg, src_root)
    folder = cache_root(cache_dir) / name / key
    result = None
    if use_cache and (folder / "meta.json").exists():
        try:
            result = _read_cache(folder)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("cache %s is unreadable (%s); preparing again", folder, exc)
    if result is None:
        prepared = spec.prepare(cfg, src_root)
        for split in SPLITS:
            if split not in prepared.splits or len(prepared.splits[split]) == 0:
                raise ConfigError(
                    f"dataset {name!r}: the {split} split is empty with config {to_dict(cfg)} "
                    f"({len(prepared.quarantined)} file(s) quarantined); check the records available "
                    "and the split options"
                )
        result = PreparedDataset(
            name=name,
            config=to_dict(cfg),
            class_names=prepared.class_names or spec.class_names,
            headline=spec.headline,
            splits=prepared.splits,
            cache_key=key,
            quarantined=prepared.quarantined,
            notes=prepared.notes,
            task=spec.task,
            meta_names=prepared.meta_names,
            candidates=prepared.candidates,
        )
        if use_cache:
            _write_cache(result, folder)
    if use_cache:
        result.cache_dir = str(folder)
    if max_lost_share is not None and result.lost_share > max_lost_share:
        where = folder / "quarantine.json" if use_cache else "the preparation summary"
        raise DataQualityError(
            f"dataset {name!r}: {len(result.quarantined):,} of {result.candidates:,} records "
            f"({result.lost_share:.1%}) were quarantined, more than max_lost_share={max_lost_share}; "
            f"the reasons are in {where}. Repair or download the missing files (bench data download "
            f"{name}), or raise max_lost_share (--max-lost-share) if a partial dataset is intended."
        )
    return result


def _write_cache(ds: PreparedDataset, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        for split, arrays in ds.splits.items():
            np.save(tmp / f"{split}_x.npy", np.ascontiguousarray(arrays.x, dtype=np.float32))
            y_type = np.float32 if arrays.y.ndim == 2 else np.int64
            np.save(tmp / f"{split}_y.npy", np.ascontiguousarray(arrays.y, dtype=y_type))
            if arrays.meta is not None:
                np.save(tmp / f"{split}_meta.npy", np.ascontiguousarray(arrays.meta, dtype=np.float32))
        (tmp / "quarantine.json").write_text(json.dumps(
            [{"file": f, "reason": r} for f, r in ds.quarantined], indent=1))
        meta = {"name": ds.name, "config": ds.config, "class_names": list(ds.class_names),
                "headline": ds.headline, "cache_key": ds.cache_key, "notes": ds.notes,
                "splits": list(ds.splits), "task": ds.task, "meta_names": list(ds.meta_names),
                "candidates": ds.candidates}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_cache(folder: Path) -> PreparedDataset:
    meta = json.loads((folder / "meta.json").read_text())
    quarantine = json.loads((folder / "quarantine.json").read_text())
    splits = {}
    for s in meta["splits"]:
        meta_file = folder / f"{s}_meta.npy"
        splits[s] = Split(
            np.load(folder / f"{s}_x.npy", mmap_mode="r"),
            np.load(folder / f"{s}_y.npy"),
            np.load(meta_file) if meta_file.exists() else None,
        )
    return PreparedDataset(
        name=meta["name"],
        config=meta["config"],
        class_names=tuple(meta["class_names"]),
        headline=meta["headline"],
        splits=splits,
        cache_key=meta["cache_key"],
        quarantined=[(q["file"], q["reason"]) for q in quarantine],
        notes=meta.get("notes", {}),
        from_cache=True,
        task=meta.get("task", "multiclass"),
        meta_names=tuple(meta.get("meta_names", ())),
        candidates=meta.get("candidates"),
    )
