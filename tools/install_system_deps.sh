#!/usr/bin/env bash
# Debian packages the tests and tools need (run as root; idempotent).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(libsndfile1 espeak-ng)
# live microphone tests: a user PulseAudio daemon with a pipe source, reached through PortAudio's ALSA pulse plugin
packages+=(pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
