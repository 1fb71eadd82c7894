#!/usr/bin/env bash
# Fresh start, session 1 (issue 22): random weights, phone head from step 0, dev2 held out.
cd /work/wt/train
specs=(); while read -r s; do specs+=(--train "$s"); done < exp/fresh1/train.list
PYTHONPATH=/work/wt/train exec python -m speechlstm train "${specs[@]}" \
  --lexicon ../shared/text/lexicon200k.txt.gz --dev exp/fresh1/dev2.tsv --out exp/fresh1/train \
  --hidden 288 --layers 4 --dropout 0.3 --phone-weight 2.0 --lr 1.5e-3 --warmup 150 \
  --batch-seconds 200 --augment 0.6 --workers 1 --threads 1 --max-minutes 125 \
  --eval-minutes 30 --checkpoint-minutes 5 --seed 1 --device cpu
