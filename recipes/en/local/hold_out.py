"""Hold readers out of a training list: the rows of the listed speakers go to a dev manifest,
every manifest that had them is replaced in the list by a filtered copy beside the list.

    python recipes/en/local/hold_out.py --speakers recipes/en/local/dev2_speakers.txt \
        --list exp/en/train.list --dev exp/en/dev2.tsv
"""
from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path


def read_speakers(path: Path) -> set[str]:
    """First field of every line that is not a comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0].strip() for line in lines if line.strip() and not line.startswith("#")}


def rebased(row: dict[str, str], source: Path, target_folder: Path) -> dict[str, str]:
    """The row with its audio path relative to ``target_folder`` instead of the source manifest's."""
    audio = (source.parent / row["path"]).resolve()
    return {**row, "path": os.path.relpath(audio, target_folder.resolve())}


def write_manifest(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    temporary.replace(path)


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--speakers", type=Path, required=True, help="held-out speaker ids, one a line")
    options.add_argument("--list", type=Path, required=True, help="training list (MANIFEST:REPEAT a line), rewritten")
    options.add_argument("--dev", type=Path, required=True, help="the held-out rows as a manifest")
    args = options.parse_args()
    speakers = read_speakers(args.speakers)
    specs, held, header = [], [], None
    for spec in args.list.read_text().split():
        manifest, separator, repeat = spec.rpartition(":")
        if not separator:
            manifest, repeat = spec, "1"
        source = Path(manifest)
        with open(source, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            rows = list(reader)
        kept = [row for row in rows if row["speaker"] not in speakers]
        if len(kept) == len(rows):
            specs.append(spec)
            continue
        header = list(reader.fieldnames)
        held += [rebased(row, source, args.dev.parent) for row in rows if row["speaker"] in speakers]
        filtered = args.list.parent / f"{source.stem}.train.tsv"
        write_manifest(filtered, header, [rebased(row, source, filtered.parent) for row in kept])
        specs.append(f"{filtered}:{repeat}")
    found = {row["speaker"] for row in held}
    if found != speakers:
        raise SystemExit(f"hold_out.py: speakers not in any training manifest: {', '.join(sorted(speakers - found))}")
    write_manifest(args.dev, header, held)
    args.list.write_text("".join(spec + "\n" for spec in specs))
    print(f"held out {len(found)} speakers, {len(held)} utterances, "
          f"{sum(float(row['duration']) for row in held) / 3600:.2f} h -> {args.dev}")


if __name__ == "__main__":
    main()
