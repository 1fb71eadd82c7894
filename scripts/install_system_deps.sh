#!/usr/bin/env bash
# Debian packages the tests and tools need (idempotent). apt-get runs as root, through sudo
# when the caller is not root, and only when a package is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(libsndfile1 espeak-ng)
# live microphone tests: a user PulseAudio daemon with a pipe source, reached through PortAudio's ALSA pulse plugin
packages+=(pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins)
# server browser test: the page in a real headless browser, driven by selenium
packages+=(chromium chromium-driver)
# tools/make_spelling_table.py: the American and British word lists (SCOWL)
packages+=(wamerican wbritish)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "installing ${missing[*]} needs root (or sudo)" >&2; exit 1; }
        as_root=(sudo --preserve-env=DEBIAN_FRONTEND)
    fi
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
