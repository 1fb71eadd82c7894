#!/usr/bin/env bash
# The fresh start, session 4 (issue 22, 2026-12-08): session 3's bundle (dev2 47.41 % WER through the phone head)
# continued on both cores as two DDP ranks for the whole session (400 s batches, a new warm-up and a cosine over
# 135 minutes); regularisation as in session 3 (dropout 0.15, SpecAugment and noise 0.4), since the training loss
# (1.53 / 1.26) is still far above stage 10's (1.15 / 1.05). dev2 held out. Run from the repo root after
# `EXP=exp/fresh4 bash recipes/en/run.sh --stage 1 --stop-stage 1`; INIT is session 3's bundle (fresh.safetensors
# as of commit 84c0e1e; the file then holds this session's result, the next session's --init).
set -e
EXP=${EXP:-exp/fresh4}
specs=(); while read -r s; do specs+=(--train "${s/EXP/$EXP}"); done < recipes/en/warmstart/train.list
torchrun --nproc-per-node 2 --master-port 29541 -m speechlstm train "${specs[@]}" \
  --init "${INIT:-recipes/en/warmstart/fresh.safetensors}" --out "$EXP/phaseE" \
  --lexicon ../shared/text/lexicon200k.txt.gz --dev "$EXP/dev2.tsv" --hidden 288 --layers 4 \
  --phone-weight 2.0 --workers 1 --threads 1 --checkpoint-minutes 5 --device cpu \
  --eval-limit 80 --dropout 0.15 --lr 1e-3 --warmup 20 --batch-seconds 200 --augment 0.4 --spec-augment 0.4 \
  --warp-prob 0.3 --speed-prob 0.5 --p-full 0.6 --max-minutes "${MINUTES:-135}" --eval-minutes 30 \
  --keep-snapshots 5 --seed 7
