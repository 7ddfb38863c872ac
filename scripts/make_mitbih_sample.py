"""Write the embedded MIT-BIH sample shipped in ``ecgharness/datasets/sample/mitdb``.

Takes the first minutes of a few records of a full MIT-BIH Arrhythmia Database
copy and writes them back in WFDB format (format 212 signals, the reference
``atr`` annotations), keeping the original ADC values unchanged.

Usage: python scripts/make_mitbih_sample.py /path/to/mitdb [--minutes 5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import wfdb

# DS1 for training (118, 124, 207, 208, 209) and validation (223); DS2 for test
# (213, 232, 233). In their first five minutes these hold every AAMI class but Q.
SAMPLE_RECORDS = (118, 124, 207, 208, 209, 223, 213, 232, 233)
OUT = Path(__file__).resolve().parents[1] / "ecgharness" / "datasets" / "sample" / "mitdb"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mitdb", type=Path, help="folder with the full database (100.hea ...)")
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for rec in SAMPLE_RECORDS:
        src = args.mitdb / str(rec)
        header = wfdb.rdheader(str(src))
        n = int(args.minutes * 60 * header.fs)
        record = wfdb.rdrecord(str(src), sampto=n, physical=False)
        ann = wfdb.rdann(str(src), "atr", sampto=n)
        wfdb.wrsamp(
            str(rec),
            fs=record.fs,
            units=record.units,
            sig_name=record.sig_name,
            d_signal=record.d_signal,
            fmt=record.fmt,
            adc_gain=record.adc_gain,
            baseline=record.baseline,
            comments=record.comments,
            write_dir=str(OUT),
        )
        keep = ann.sample < n
        wfdb.wrann(
            str(rec),
            "atr",
            ann.sample[keep],
            symbol=list(np.asarray(ann.symbol)[keep]),
            subtype=ann.subtype[keep],
            chan=ann.chan[keep],
            num=ann.num[keep],
            aux_note=list(np.asarray(ann.aux_note, dtype=object)[keep]),
            fs=ann.fs,
            write_dir=str(OUT),
        )
    (OUT / "RECORDS").write_text("".join(f"{r}\n" for r in SAMPLE_RECORDS))
    print(f"wrote {len(SAMPLE_RECORDS)} records to {OUT}")


if __name__ == "__main__":
    main()
