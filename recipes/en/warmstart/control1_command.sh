#!/usr/bin/env bash
# Issue 22's control, run 1 (2026-12-07): stage 9 continued 60 minutes with stage 9's settings on the fresh
# start's data (dev2 held out); the mean of its last five snapshots shipped as stage 10. Run from the repo root
# after `EXP=exp/control bash recipes/en/run.sh --stage 1 --stop-stage 1` (writes the held-out training manifest);
# INIT is the stage 9 bundle: `git show 13a32a8:models/speechlstm-en.safetensors > stage9.safetensors`.
set -e
EXP=${EXP:-exp/control}
specs=(); while read -r s; do specs+=(--train "${s/EXP/$EXP}"); done < recipes/en/warmstart/train.list
speechlstm train "${specs[@]}" --init "${INIT:-stage9.safetensors}" \
  --lexicon ../shared/text/lexicon200k.txt.gz --dev ../shared/data/dev.tsv --out "$EXP/train" \
  --hidden 288 --layers 4 --dropout 0.2 --phone-weight 2.0 --lr 4e-4 --warmup 60 \
  --batch-seconds 200 --augment 0.6 --speed-prob 0 --warp-prob 0 --keep-snapshots 5 \
  --workers 1 --threads 1 --max-minutes 60 --eval-minutes 30 --checkpoint-minutes 5 --seed 3 --device cpu
speechlstm average "$EXP/stage10.safetensors" "$EXP"/train/snapshots/*.safetensors
