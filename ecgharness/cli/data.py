"""``bench data``: download datasets from their official sources, prepare them, show what is there."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

EXAMPLES = """examples:
  bench data download mitbih                          # MIT-BIH from PhysioNet into ./data/mitdb (94 MB)
  bench data download mitbih --records 100,101 --root ~/ecg-data
  bench data download ptbxl --sampling-rate 500       # PTB-XL records500/ (about 2.5 GB)
  bench data download chapman                         # figshare workbooks + ECGDataDenoised.zip (about 2 GB)
  bench data download mitbih --mirror http://mirror.example/mitdb/1.0.0/
  bench data prepare mitbih --root ~/ecg-data         # build the cache ahead of a run
  bench data prepare mitbih_sample                    # the embedded sample
  bench data info --root ~/ecg-data                   # present, prepared, quarantined
  bench data explore mitbih_sample                    # explore/mitbih_sample/index.html + PNGs
  bench data explore mitbih --root ~/ecg-data --out mitbih-look/
"""


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="download, prepare or inspect datasets", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--root", "--data-root", dest="root",
                       help="data root holding mitdb/, ptbxl/, chapman/ (default $ECGHARNESS_DATA or ./data)")

    d = actions.add_parser("download", help="fetch a dataset from its official source and verify every file",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("name", help="dataset: mitbih, ptbxl or chapman")
    common(d)
    d.add_argument("--mirror", help="base URL serving the release's files under the same paths "
                                    "(default $ECGHARNESS_MIRROR/NAME/, else the official source)")
    d.add_argument("--records", type=_csv, help="only these records (mitbih: 100,101; ptbxl: ecg_id 1,2)")
    d.add_argument("--sampling-rate", type=int, choices=(100, 500), help="ptbxl: records100/ (default) or records500/")
    d.add_argument("--signals", choices=("denoised", "raw", "both"), help="chapman: waveform archive(s) (default denoised)")
    d.add_argument("--keep-archives", action="store_true", help="keep zip archives after extracting them")
    d.add_argument("--workers", type=int, default=4, help="files fetched at once (default 4)")
    d.add_argument("--retries", type=int, default=3, help="retries of a failed transfer, each resuming (default 3)")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.set_defaults(func=download)

    r = actions.add_parser("prepare", help="prepare a dataset (default config) into the cache and summarise it",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("name", help="registered dataset (bench list datasets)")
    common(r)
    r.add_argument("--cache-dir", help="prepared-array cache (default $ECGHARNESS_CACHE or ~/.cache/ecgharness)")
    r.set_defaults(func=prepare)

    e = actions.add_parser("explore", help="an HTML page (and PNGs) on a dataset: class balance, class-mean "
                                           "waveforms, PCA, RR intervals, band-pass filter, metadata",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("name", help="registered dataset (bench list datasets)")
    common(e)
    e.add_argument("--cache-dir", help="prepared-array cache (default $ECGHARNESS_CACHE or ~/.cache/ecgharness)")
    e.add_argument("--out", type=Path, help="folder for index.html and the PNGs (default explore/NAME/)")
    e.set_defaults(func=explore)

    i = actions.add_parser("info", help="per dataset: source files present, prepared cache, quarantined files",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(i)
    i.add_argument("--cache-dir", help="prepared-array cache (default $ECGHARNESS_CACHE or ~/.cache/ecgharness)")
    i.set_defaults(func=info)


def download(args: argparse.Namespace) -> int:
    from ecgharness.datasets.download import DownloadError, download_dataset, get_source, mirror_url

    source = get_source(args.name)
    if not source.embedded and not source.manual:
        where = mirror_url(args.name, args.mirror) or source.base_url
        print(f"{args.name}: {where} ({source.licence}; {source.landing})")
        print(f"  {source.note}")
    try:
        summary = download_dataset(
            args.name, args.root, mirror=args.mirror, records=args.records, sampling_rate=args.sampling_rate,
            signals=args.signals, keep_archives=args.keep_archives, workers=args.workers,
            progress=not args.no_progress, retries=args.retries,
        )
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if summary.folder is None:
        print(f"{args.name}: {summary.note}")
        return 0
    print(f"{args.name}: {len(summary.downloaded)} file(s) downloaded ({summary.bytes_downloaded / 1e6:,.1f} MB), "
          f"{len(summary.present)} already present, {len(summary.failed)} failed; in {summary.folder}")
    for archive, members in summary.extracted.items():
        print(f"  {archive}: {members:,} file(s) extracted")
    for name, digests in summary.unverified.items():
        print(f"  {name}: no published SHA-256 to check against; as downloaded: SHA-256 {digests['sha256']}, "
              f"MD5 {digests['md5']} (compare the MD5 with the one on its figshare page)")
    for name, reason in summary.failed:
        print(f"  FAILED {name}: {reason}", file=sys.stderr)
    if summary.failed:
        print("run the same command again to retry; verified files are kept and not fetched twice", file=sys.stderr)
        return 1
    root = f" --root {args.root}" if args.root else ""
    print(f"next: bench data prepare {args.name}{root}")
    return 0


def prepare(args: argparse.Namespace) -> int:
    from ecgharness.datasets import load_dataset

    ds = load_dataset(args.name, None, root=args.root, cache_dir=args.cache_dir)
    for line in ds.summary_lines():
        print(line)
    if ds.candidates is not None:
        print(f"  records     {ds.candidates:,} in the source, {len(ds.quarantined):,} quarantined "
              f"({ds.lost_share:.1%})")
    else:
        print(f"  quarantined {len(ds.quarantined):,}")
    print(f"  cache       {ds.cache_dir}" + (" (already prepared)" if ds.from_cache else ""))
    if ds.quarantined:
        print(f"  reasons     {Path(ds.cache_dir) / 'quarantine.json'}")
    return 0


def explore(args: argparse.Namespace) -> int:
    from ecgharness.datasets import load_dataset
    from ecgharness.explore.page import explore as write_page

    ds = load_dataset(args.name, None, root=args.root, cache_dir=args.cache_dir)
    out = args.out or Path("explore") / args.name
    page = write_page(ds, out, root=args.root)
    print(f"{args.name}: {len(page.plots)} figure(s) in {out}/ ({', '.join(p.name for p in page.plots.values())})")
    for note in page.notes:
        print(f"  {note}")
    print(f"open {page.html}")
    return 0


def info(args: argparse.Namespace) -> int:
    from ecgharness.datasets import DATASETS, cache_root, data_root

    root, cache = data_root(args.root), cache_root(args.cache_dir)
    print(f"data root  {root}")
    print(f"cache      {cache}")
    for name in DATASETS:
        print(f"\n{name}")
        print(f"  source       {_source_status(name, root)}")
        prepared, quarantine = _cache_status(name, root, cache)
        print(f"  prepared     {prepared}")
        print(f"  quarantined  {quarantine}")
    return 0


# --------------------------------------------------------------------------- what is on disk


def _source_status(name: str, root: Path) -> str:
    """The dataset's own status line (``DatasetSpec.status``), else a count of its source files."""
    from ecgharness.datasets import get_dataset_spec
    from ecgharness.datasets.base import parse_config

    spec = get_dataset_spec(name)
    if spec.status is not None:
        return spec.status(root)
    cfg = parse_config(name, None)
    if spec.default_root is not None:
        files = list(spec.source_files(cfg, spec.default_root(cfg)))
        return f"embedded in the package ({len(files)} files)" if files else "generated in code (no files)"
    files = [Path(p) for p in spec.source_files(cfg, root)]
    present = [p for p in files if p.exists()]
    folder = files[0].parent if files else root
    if len(present) == len(files):
        missing = ""
    elif name in _manual_sources():
        missing = f" (missing: download them yourself into {folder}; see `bench data download {name}`)"
    else:
        missing = f" (missing: bench data download {name})"
    return f"{len(present)} of {len(files)} files in {folder}{missing}"


def _manual_sources() -> set[str]:
    """Datasets with no automatic download (their files need an account elsewhere)."""
    from ecgharness.datasets.download import SOURCES

    return {name for name in SOURCES if SOURCES.get(name).manual}


def _cache_status(name: str, root: Path, cache: Path) -> tuple[str, str]:
    """(prepared, quarantined) lines: the default config's cache, else the latest cached config."""
    import json

    from ecgharness.datasets import get_dataset_spec
    from ecgharness.datasets.base import _cache_key, parse_config

    spec = get_dataset_spec(name)
    cfg = parse_config(name, None)
    src_root = spec.default_root(cfg) if spec.default_root is not None else root
    default = cache / name / _cache_key(spec, cfg, src_root)
    folders = sorted((p.parent for p in (cache / name).glob("*/meta.json")), key=lambda p: p.stat().st_mtime)
    others = len([f for f in folders if f != default])
    more = f"; {others} other cached config(s)" if others else ""
    if (default / "meta.json").exists():
        chosen, prepared = default, f"yes, default config: {default}{more}"
    elif folders:
        chosen, prepared = folders[-1], f"not with the default config and current files; latest: {folders[-1]}{more}"
    else:
        return f"no (bench data prepare {name})", "- (not prepared)"
    try:
        entries = json.loads((chosen / "quarantine.json").read_text())
    except (OSError, ValueError):
        return prepared, f"unknown (no readable {chosen / 'quarantine.json'})"
    if not entries:
        return prepared, "0"
    kinds = Counter(_reason_kind(e.get("reason", "")) for e in entries)
    top = ", ".join(f"{kind} ({n:,})" for kind, n in kinds.most_common(3))
    return prepared, f"{len(entries):,} file(s): {top}; see {chosen / 'quarantine.json'}"


def _reason_kind(reason: str) -> str:
    """The reason without its particulars: 'truncated signal: 10 of 650000 samples' -> 'truncated signal'."""
    for sep in (":", "(", "["):
        reason = reason.split(sep, 1)[0]
    return reason.strip() or "unspecified"
