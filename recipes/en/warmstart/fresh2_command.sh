#!/usr/bin/env bash
# The fresh start, session 2 (issue 22, 2026-12-07): session 1's weights (random init, 1319 steps, still on the
# CTC plateau) through phase A, the short-first curriculum that left the plateau (utterances up to 8 s,
# full-utterance batches, no dropout / SpecAugment / noise / warp), then phase B on every utterance with 40 %
# chunked batches and light regularisation. dev2 held out. Run from the repo root after
# `EXP=exp/fresh2 bash recipes/en/run.sh --stage 1 --stop-stage 1`; INIT is session 1's bundle (fresh.safetensors as of
# commit 0291a6b; the file now holds session 2's result, the next session's --init).
set -e
EXP=${EXP:-exp/fresh2}
specs=(); while read -r s; do specs+=(--train "${s/EXP/$EXP}"); done < recipes/en/warmstart/train.list
common=(--lexicon ../shared/text/lexicon200k.txt.gz --dev "$EXP/dev2.tsv" --hidden 288 --layers 4 --phone-weight 2.0
        --workers 1 --threads 1 --checkpoint-minutes 5 --device cpu)
speechlstm train "${specs[@]}" "${common[@]}" --init "${INIT:-recipes/en/warmstart/fresh.safetensors}" --out "$EXP/phaseA" \
  --eval-limit 60 --dropout 0 --lr 2e-3 --warmup 60 --max-seconds 8 --batch-seconds 200 --augment 0 \
  --spec-augment 0 --warp-prob 0 --speed-prob 0.5 --p-full 1.0 --max-minutes 50 --eval-minutes 12 --seed 2
speechlstm train "${specs[@]}" "${common[@]}" --init "$EXP/phaseA/last.safetensors" --out "$EXP/phaseB" \
  --eval-limit 80 --dropout 0.1 --lr 1.5e-3 --warmup 30 --batch-seconds 200 --augment 0.3 --spec-augment 0.3 \
  --warp-prob 0.3 --speed-prob 0.5 --p-full 0.6 --max-minutes 80 --eval-minutes 20 --keep-snapshots 4 --seed 4
