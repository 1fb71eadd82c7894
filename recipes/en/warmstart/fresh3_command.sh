#!/usr/bin/env bash
# The fresh start, session 3 (issue 22, 2026-12-08): session 2's bundle (out of the CTC plateau, dev2 62.76 % WER)
# continued with phase B's recipe, a new warmup and cosine, slightly more regularisation (dropout 0.15, SpecAugment
# and noise 0.4): phase C on one core beside the control (stopped after 70 of its 135 minutes, when the control
# showed that continuing stage 10 no longer gains), then phase D on both cores (two DDP ranks, 400 s batches).
# dev2 held out. Run from the repo root after
# `EXP=exp/fresh3 bash recipes/en/run.sh --stage 1 --stop-stage 1`; INIT is session 2's bundle (fresh.safetensors
# as of commit a250912; the file then holds this session's result, the next session's --init).
set -e
EXP=${EXP:-exp/fresh3}
specs=(); while read -r s; do specs+=(--train "${s/EXP/$EXP}"); done < recipes/en/warmstart/train.list
speechlstm train "${specs[@]}" --init "${INIT:-recipes/en/warmstart/fresh.safetensors}" --out "$EXP/phaseC" \
  --lexicon ../shared/text/lexicon200k.txt.gz --dev "$EXP/dev2.tsv" --hidden 288 --layers 4 --phone-weight 2.0 \
  --workers 1 --threads 1 --checkpoint-minutes 5 --device cpu \
  --eval-limit 80 --dropout 0.15 --lr 1.2e-3 --warmup 30 --batch-seconds 200 --augment 0.4 --spec-augment 0.4 \
  --warp-prob 0.3 --speed-prob 0.5 --p-full 0.6 --max-minutes "${MINUTES:-135}" --eval-minutes 30 --keep-snapshots 5 \
  --seed 5 || true  # stopped by hand at a checkpoint
torchrun --nproc-per-node 2 --master-port 29541 -m speechlstm train "${specs[@]}" --init "$EXP/phaseC/last.safetensors" \
  --out "$EXP/phaseD" --lexicon ../shared/text/lexicon200k.txt.gz --dev "$EXP/dev2.tsv" --hidden 288 --layers 4 \
  --phone-weight 2.0 --workers 1 --threads 1 --checkpoint-minutes 5 --device cpu \
  --eval-limit 80 --dropout 0.15 --lr 1e-3 --warmup 20 --batch-seconds 200 --augment 0.4 --spec-augment 0.4 \
  --warp-prob 0.3 --speed-prob 0.5 --p-full 0.6 --max-minutes "${MINUTES_D:-60}" --eval-minutes 30 \
  --keep-snapshots 5 --seed 6
