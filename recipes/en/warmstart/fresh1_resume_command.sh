#!/usr/bin/env bash
# Fresh start, session 1 (issue 22), resumed at step 352 with smaller batches, a higher peak and more full-utterance batches to leave the CTC plateau: random weights, phone head from step 0, dev2 held out.
cd /work/wt/train
specs=(); while read -r s; do specs+=(--train "$s"); done < exp/fresh1/train.list
PYTHONPATH=/work/wt/train exec python -m speechlstm train "${specs[@]}" \
  --lexicon ../shared/text/lexicon200k.txt.gz --dev exp/fresh1/dev2.tsv --out exp/fresh1/train \
  --hidden 288 --layers 4 --dropout 0.3 --phone-weight 2.0 --lr 2e-3 --warmup 150 \
  --batch-seconds 100 --augment 0.6 --workers 1 --threads 1 --max-minutes 135 --p-full 0.8 \
  --eval-minutes 30 --checkpoint-minutes 5 --seed 1 --device cpu
