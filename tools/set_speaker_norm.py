"""Set a bundle's running per-speaker normalization (``FrontendConfig.speaker_norm``).

The model is not retrained: its frames are only shifted by part of the stream's running offset
from the training data's mean (the bundle's ``feat_mean``), which the global normalization inside
the model then treats as before. Choose the weight on dev2 (RESULTS.md, "Per-speaker
normalization"); then export the ONNX graphs again, since they carry the frontend in their metadata.
The dev WER a bundle records for ``speechlstm info`` no longer holds afterwards: give the new one
with ``--dev-wer``, else it is dropped.

    python tools/set_speaker_norm.py models/speechlstm-en.safetensors --weight 0.5 --prior-seconds 3 -o out.safetensors
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from speechlstm.bundle import load_bundle, write_bundle
from speechlstm.config import SpeakerNormConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="bundle to read (.safetensors)")
    parser.add_argument("-o", "--output", required=True, help="bundle to write (may be the input)")
    parser.add_argument("--weight", type=float, required=True,
                        help="share of the running offset subtracted (0: off; the shipped model has 0.5)")
    parser.add_argument("--prior-seconds", type=float, default=SpeakerNormConfig.prior_seconds,
                        help="seconds of frames at the global mean the running mean starts with (default: %(default)s)")
    parser.add_argument("--dev-wer", help="the dev WER measured with this normalization, for speechlstm info")
    args = parser.parse_args()
    bundle = load_bundle(args.model)
    norm = SpeakerNormConfig(args.weight, args.prior_seconds, tuple(bundle.tensors["feat_mean"].tolist()))
    info = {key: value for key, value in bundle.info.items() if key != "dev_wer"}
    if args.dev_wer:
        info["dev_wer"] = args.dev_wer
    stored = next(tensor.dtype for name, tensor in bundle.tensors.items() if not name.startswith("feat_"))
    write_bundle(args.output, bundle.tensors, replace(bundle.frontend, speaker_norm=norm), bundle.model,
                 info, bundle.train, dtype=stored)
    print(f"{args.output}: speaker normalization weight {args.weight:g}, prior {args.prior_seconds:g} s")


if __name__ == "__main__":
    main()
