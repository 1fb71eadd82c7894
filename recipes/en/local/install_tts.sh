#!/bin/bash
# Install the TTS engines and audio tools that recipes/en/local/synth.py uses (Debian bookworm, as root).
#
# Voices and their licenses (the license column of the synthetic manifest):
#   espeak-ng (all accents/variants)      GPL-3.0-or-later
#   mbrola us1 us2 en1 (via espeak-ng)    MBROLA database terms: free use and distribution,
#                                         but not to be sold or put into a sold product
#   flite kal kal16 awb rms slt           BSD-like (CMU Flite)
#   festival kal_diphone, ked_diphone     CSTR/CMU MIT-like free license
#   festival cmu_us_slt_arctic_hts        BSD-3-Clause (CMU ARCTIC, HTS)
#   pico en-US en-GB                      Apache-2.0 (non-free section: no source for the data)
#   rhvoice alan bdl clb slt              LGPL-2.1-or-later
# rhvoice-english also ships evgeniy-eng and lyubov (CC-BY-NC-ND-4.0); synth.py skips them.
# mbrola-us3 is left out: it has no diphones for espeak-ng's O2 vowel ("on", "long").
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# mbrola voices, pico and rhvoice live in contrib/non-free: add those components for the
# archives the machine already uses (taken from its own main source list).
sed -E 's/^Components: .*/Components: contrib non-free/' /etc/apt/sources.list.d/debian.sources \
    > /etc/apt/sources.list.d/tts-extra.sources

apt-get update -q
apt-get install -y -q --no-install-recommends \
    espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
    mbrola mbrola-us1 mbrola-us2 mbrola-en1 \
    libttspico-utils rhvoice rhvoice-english \
    sox ffmpeg
