#!/usr/bin/env bash
# The English recipe, icefall style: numbered stages, run any range of them.
#
#   bash recipes/en/run.sh                          # every stage
#   bash recipes/en/run.sh --stage 4 --stop-stage 5 # train, then decode dev
#   bash recipes/en/run.sh --tiny --stage 1 --stop-stage 5  # a clone without ../shared: a tiny corpus
#
# Stages: 0 deps, 1 data, 2 synth (only with SYNTH_HOURS > 0), 3 lm, 4 train, 5 decode,
# 6 export, 7 bench. Stage 1 holds the readers of $HOLDOUT out of training ($EXP/dev2.tsv).
# Paths are relative to the repository root; the shared corpora are read from $SHARED
# (default ../shared), never copied. --tiny reads exp/tiny instead (stage 1 writes it with
# recipes/en/local/make_tiny_corpus.py: espeak-ng clips and a page of text), trains 1 minute
# into exp/tiny-run. Every setting below can be overridden from the environment, e.g.
# `MINUTES=30 INIT=models/speechlstm-en.safetensors bash recipes/en/run.sh --stage 4`.
set -euo pipefail
cd "$(dirname "$0")/../.."

stage=0
stop_stage=100
tiny=0
while [ $# -gt 0 ]; do
    case "$1" in
        --stage) stage="$2"; shift 2 ;;
        --stop-stage) stop_stage="$2"; shift 2 ;;
        --tiny) tiny=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$tiny" = 1 ]; then
    SHARED=${SHARED:-exp/tiny} EXP=${EXP:-exp/tiny-run} MIX=${MIX:-train.tsv:1} HOLDOUT=${HOLDOUT:-none}
    MINUTES=${MINUTES:-1} LM_ARGS=${LM_ARGS:-"--prune 0 1 1"}
fi

SHARED=${SHARED:-../shared}
EXP=${EXP:-exp/en}
DATA="$SHARED/data"
# The training mix, MANIFEST:REPEAT per line: native read speech weighs most, because the dev
# readers (and most users) read or speak native English; learners and single words add voices.
MIX=${MIX:-"train.tsv:2 minilibrispeech.tsv:2 speechocean762.tsv:0.5 speechcommands.tsv:0.3 an4.tsv:1
commonvoice.tsv:2 asterisk.tsv:0.5 vctk.tsv:2 cmu_arctic.tsv:2 digits.tsv:0.3"}
DEV=${DEV:-$DATA/dev.tsv}
# Readers held out of training as a second dev set, $EXP/dev2.tsv (issue 22); "none" holds out nobody.
HOLDOUT=${HOLDOUT:-recipes/en/local/dev2_speakers.txt}
SYNTH_HOURS=${SYNTH_HOURS:-0}
LM_ARGS=${LM_ARGS:-"--vocab-size 40000 --prune 0 3 6"}
INIT=${INIT:-}
MINUTES=${MINUTES:-120}
DEVICE=${DEVICE:-cpu}
TRAIN_ARGS=${TRAIN_ARGS:-"--batch-seconds 200 --lr 8e-4 --warmup 100 --augment 0.6 --dropout 0.2 --workers 1 --threads 2"}
LEXICON=${LEXICON:-$SHARED/text/lexicon200k.txt.gz}

log() { echo "$(date '+%F %T') stage $1: $2" >&2; }
want() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

mkdir -p "$EXP"

if want 0; then
    log 0 "system packages and the training extras"
    bash scripts/install_system_deps.sh
    pip install -e '.[train,export,test]'
fi

if want 1; then
    if [ "$tiny" = 1 ] && [ ! -d "$DATA" ]; then
        log 1 "tiny corpus $SHARED"
        python recipes/en/local/make_tiny_corpus.py "$SHARED"
    fi
    log 1 "training list $EXP/train.list from $DATA"
    : > "$EXP/train.list.tmp"
    for spec in $MIX; do
        manifest="${spec%:*}"
        [ -f "$DATA/$manifest" ] || { echo "run.sh: $DATA/$manifest not found (set SHARED)" >&2; exit 1; }
        echo "$DATA/$spec" >> "$EXP/train.list.tmp"
    done
    [ -f "$DEV" ] || { echo "run.sh: dev manifest $DEV not found" >&2; exit 1; }
    if [ "$HOLDOUT" != none ]; then
        python recipes/en/local/hold_out.py --speakers "$HOLDOUT" --list "$EXP/train.list.tmp" --dev "$EXP/dev2.tsv"
    fi
    mv "$EXP/train.list.tmp" "$EXP/train.list"
fi

if want 2 && [ "$SYNTH_HOURS" != 0 ]; then
    log 2 "synthesizing $SYNTH_HOURS h into $EXP/synth"
    bash recipes/en/local/install_tts.sh
    python recipes/en/local/synth.py --out "$EXP/synth" --hours "$SYNTH_HOURS" --seed 7 --bitrate 12k \
        --voices espeak-ng,flite,festival,pico,rhvoice
    echo "$EXP/synth/manifest.tsv" >> "$EXP/train.list"
fi

if want 3; then
    # A build takes minutes and 2 GB: an LM built with the same LM_ARGS is kept (delete it to rebuild).
    if [ -f "$EXP/lm.arpa.gz" ] && [ "$(cat "$EXP/lm.args" 2>/dev/null)" = "$LM_ARGS" ]; then
        log 3 "word n-gram LM $EXP/lm.arpa.gz is up to date (built with LM_ARGS=$LM_ARGS)"
    else
        log 3 "word n-gram LM $EXP/lm.arpa.gz"
        # shellcheck disable=SC2086
        speechlstm build-lm --text "$SHARED/text/lm_text.txt.xz" --vocab "$SHARED/text/vocab200k.txt" $LM_ARGS \
            -o "$EXP/lm.arpa.gz"
        echo "$LM_ARGS" > "$EXP/lm.args"
    fi
    if [ -f "$LEXICON" ]; then
        log 3 "pronunciations of its words $EXP/lexicon.txt.gz (for the phone head)"
        speechlstm build-lexicon --lm "$EXP/lm.arpa.gz" --pronunciations "$LEXICON" -o "$EXP/lexicon.txt.gz"
    fi
fi

if want 4; then
    log 4 "training into $EXP/train ($MINUTES min on $DEVICE)"
    train_specs=()
    while read -r spec; do train_specs+=(--train "$spec"); done < "$EXP/train.list"
    init=()
    [ -n "$INIT" ] && init=(--init "$INIT")
    lexicon=()
    [ -f "$LEXICON" ] && lexicon=(--lexicon "$LEXICON")
    # shellcheck disable=SC2086
    speechlstm train "${train_specs[@]}" "${init[@]}" "${lexicon[@]}" --dev "$DEV" --out "$EXP/train" \
        --max-minutes "$MINUTES" --device "$DEVICE" $TRAIN_ARGS
fi

lm=("--lm" "$EXP/lm.arpa.gz")
[ -f "$EXP/lm.arpa.gz" ] || lm=()
[ -f "$EXP/lexicon.txt.gz" ] && lm+=("--lexicon" "$EXP/lexicon.txt.gz")

if want 5; then
    log 5 "decoding $DEV with $EXP/train/last.safetensors"
    speechlstm eval "$DEV" --model "$EXP/train/last.safetensors" --backend torch "${lm[@]}" --json "$EXP/decode.json"
fi

if want 6; then
    log 6 "exporting $EXP/train/last.safetensors to $EXP/export"
    speechlstm export --model "$EXP/train/last.safetensors" --int8 -o "$EXP/export"
fi

if want 7; then
    log 7 "benchmark on $DEV"
    python tools/bench.py --model "$EXP/train/last.safetensors" --manifest "$DEV" --export --json "$EXP/bench.json"
fi
